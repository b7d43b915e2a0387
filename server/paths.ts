// Where things live inside a data directory, and how the CLI finds a running server on it.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { nodeIsProcessAlive } from '../engine/directory/lock.js';

export const databasesDefault = ['DB01', 'DB02'] as const;
export const serverFileName = 'server.json';
export const adminSecretPath = (dataDir: string): string => join(dataDir, 'secrets', 'admin.json');

export interface ServerFile {
  readonly pid: number;
  readonly server: string;
  readonly adminUrl: string;
  /** The admin API's certificate, pinned by the CLI. */
  readonly fingerprintSha256: string;
  readonly startedAtMs: number;
  /** The ports it listens on, by service (as bound: `--port-offset any` lets the system choose). */
  readonly ports?: Readonly<Record<string, number>>;
}

/** The server running on this data directory, or null when none runs. */
export function runningServer(dataDir: string): ServerFile | null {
  const path = join(dataDir, serverFileName);
  if (!existsSync(path)) return null;
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as ServerFile;
    return nodeIsProcessAlive(file.pid) && file.pid !== process.pid ? file : null;
  } catch {
    return null;
  }
}

export function readAdminToken(dataDir: string): string | null {
  try {
    return (JSON.parse(readFileSync(adminSecretPath(dataDir), 'utf8')) as { token: string }).token;
  } catch {
    return null;
  }
}

/** Replaces a small file durably: a temp file written and fsynced, renamed over it, the directory fsynced. */
export function writeFileDurably(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
