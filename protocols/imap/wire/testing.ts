// Test helpers shared by the wire tests and the fuzzer: run byte chunks through a decoder
// (answering every sync literal as a server would) and parse what comes out.

import type { WireLimits } from './constants.js';
import { ImapDecoder, type DecoderEvent } from './decoder.js';
import { parseCommand, type ParseResult } from './parser.js';

export { splitEvery } from '../../fuzz.js';

/** Feeds chunks, collecting every event; continuation requests are simply accepted. */
export function decodeChunks(chunks: readonly Uint8Array[], decoder = new ImapDecoder()): DecoderEvent[] {
  const events: DecoderEvent[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let e = decoder.next(); e !== null; e = decoder.next()) events.push(e);
  }
  return events;
}

export function parseChunks(chunks: readonly Uint8Array[], limits?: WireLimits, utf8Mailboxes = false): (ParseResult | DecoderEvent)[] {
  const decoder = limits === undefined ? new ImapDecoder() : new ImapDecoder(limits);
  return decodeChunks(chunks, decoder)
    .filter((e) => e.kind !== 'continue')
    .map((e) => (e.kind === 'command' ? parseCommand(e.command, { utf8Mailboxes, ...(limits ? { limits } : {}) }) : e));
}

/** JSON with bigint and bytes made printable, for golden files and deep comparisons. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'bigint') return `${v}n`;
      if (v instanceof Uint8Array) return { bytesBase64: Buffer.from(v).toString('base64') };
      return v;
    },
    1,
  );
}
