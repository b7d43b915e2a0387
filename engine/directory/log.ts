// The embedded directory's log file format, version 1. One record per line:
//
//   +----------+---+--------------------------------------+----+
//   | crc32    | SP| record as JSON (no newlines inside)  | LF |
//   | 8 hex    |   |                                      |    |
//   +----------+---+--------------------------------------+----+
//
// The CRC-32 (ISO-HDLC, as zlib) is over the UTF-8 bytes of the JSON. Line 1 is the header:
//
//   {"seq":0,"format":"quire-directory","formatVersion":1,"version":V,"atMs":T}
//
// where V is the directory version the file starts at (0 for a new directory, the current
// version after a compaction). Every later line is a record
//
//   {"seq":N,"atMs":T,"event":{"type":...}}            a change: bumps the version by one
//   {"seq":N,"atMs":T,"snapshot":true,"event":{...}}  compaction output: does not bump it
//
// seq counts lines from 0 with no gaps, so a lost or repeated line is caught. Snapshot
// records may only come before the first change record.

import * as zlib from 'node:zlib';
import { logLineBytesMax } from './constants.js';
import type { DirectoryEvent, StoredUser } from './state.js';

export const logFormat = 'quire-directory';
export const logFormatVersion = 1;

export interface LogHeader {
  readonly seq: 0;
  readonly format: typeof logFormat;
  readonly formatVersion: typeof logFormatVersion;
  readonly version: number;
  readonly atMs: number;
}

export interface LogRecord {
  readonly seq: number;
  readonly atMs: number;
  readonly snapshot?: true;
  readonly event: DirectoryEvent;
}

// zlib.crc32 arrived in Node 20.15; package.json allows any Node 20, so keep a table fallback.
const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32Table(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export function crc32(bytes: Uint8Array): number {
  return zlibCrc32 !== undefined ? zlibCrc32(bytes) >>> 0 : crc32Table(bytes);
}

/** One line of the format (also the eDiscovery audit log's, server/discovery.ts). */
export function encodeLine(record: LogHeader | LogRecord | object): string {
  const json = JSON.stringify(record);
  const crc = crc32(Buffer.from(json, 'utf8')).toString(16).padStart(8, '0');
  return `${crc} ${json}\n`;
}

/** The JSON value of one line (without its LF), or why it is unreadable. */
export function decodeLine(line: string): { value: unknown } | { error: string } {
  if (Buffer.byteLength(line, 'utf8') > logLineBytesMax) return { error: `line longer than ${logLineBytesMax} bytes` };
  const match = /^([0-9a-f]{8}) (.*)$/s.exec(line);
  if (match === null) return { error: 'not "<crc32> <json>"' };
  const json = match[2]!;
  const crc = crc32(Buffer.from(json, 'utf8'));
  if (crc !== parseInt(match[1]!, 16)) return { error: 'checksum mismatch' };
  try {
    return { value: JSON.parse(json) };
  } catch {
    return { error: 'checksum matches but JSON does not parse' };
  }
}

// Shape checks for what comes back from disk. Anything off is CORRUPT with the line number.

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isStrList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isQuota = (v: unknown): v is number | null => v === null || isCount(v);

function isUser(v: unknown): v is StoredUser {
  return isObj(v) && isStr(v.address) && isStr(v.mailboxId) && isStr(v.database) && isQuota(v.quotaBytes) &&
    isStr(v.displayName) && isStrList(v.aliases) && isCount(v.createdAtMs) && isStr(v.passwordHash);
}

function isEvent(v: unknown): v is DirectoryEvent {
  if (!isObj(v)) return false;
  switch (v.type) {
    case 'domain.add': return isStr(v.name);
    case 'user.add': return isUser(v.user);
    case 'user.remove': return isStr(v.address) && isStr(v.mailboxId) && isStrList(v.aliases);
    case 'user.password': return isStr(v.address) && isStr(v.passwordHash);
    case 'user.database': return isStr(v.address) && isStr(v.mailboxId) && isStr(v.database);
    case 'user.quota': return isStr(v.address) && isQuota(v.quotaBytes);
    case 'alias.add':
    case 'alias.remove': return isStr(v.alias) && isStr(v.address);
    case 'group.add':
    case 'group.remove': return isStr(v.address) && isStrList(v.members);
    default: return false;
  }
}

export function asHeader(v: unknown): LogHeader | string {
  if (!isObj(v) || v.seq !== 0) return 'first line is not a header';
  if (v.format !== logFormat) return `not a ${logFormat} log`;
  if (v.formatVersion !== logFormatVersion) return `log format version ${String(v.formatVersion)} is not supported (this build reads ${logFormatVersion})`;
  if (!isCount(v.version) || !isCount(v.atMs)) return 'header has no valid version or atMs';
  return v as unknown as LogHeader;
}

export function asRecord(v: unknown): LogRecord | string {
  if (!isObj(v) || !isCount(v.seq) || !isCount(v.atMs)) return 'record has no valid seq or atMs';
  if (v.snapshot !== undefined && v.snapshot !== true) return 'record has an invalid snapshot flag';
  if (!isEvent(v.event)) return 'record has an unknown or malformed event';
  return v as unknown as LogRecord;
}
