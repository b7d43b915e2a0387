// Event codec, version 2: MessageAppended with its per-message header prefix.
//
// The layout is v1's; the raw bytes after the JSON are the message's prefix (empty when it has
// none), which v1 could not carry:
//
//   0          4                      4 + jsonBytes
//   +----------+----------------------+-----------------------------+
//   | jsonBytes| JSON of the event    | prefix: header fields of    |
//   |   u32 LE | without type/prefix  | this message only (raw)     |
//   +----------+----------------------+-----------------------------+
//
// `sizeBytes` in the JSON is the message's (prefix + content), `hash` the shared content's. A
// v1 reader refuses the record by its version instead of dropping the prefix unseen.

import { assert } from '../assert.js';
import { EventType, type MailEvent, type MessageAppended } from './types.js';
import { joinPayload, splitPayload } from './v1.js';

export const messageAppendedVersion = 2;

export function encodeMessageAppended(event: MessageAppended): Uint8Array {
  const { type: _type, prefix, ...rest } = event;
  return joinPayload(rest, prefix ?? null);
}

export function decodeMessageAppended(payload: Uint8Array): MailEvent {
  const { body, raw } = splitPayload(payload);
  assert(typeof body.hash === 'string' && typeof body.sizeBytes === 'number', 'MessageAppended v2 without hash or size');
  assert(raw.length <= body.sizeBytes, 'MessageAppended v2 prefix longer than the message');
  return { type: EventType.MessageAppended, ...body, ...(raw.length > 0 ? { prefix: raw } : {}) } as unknown as MessageAppended;
}
