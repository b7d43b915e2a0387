// The event codec: which version each type is written in, and reading every version still in
// logs. The newest version of a type is written; older ones stay readable (a log is replayed
// for as long as it is kept, and a passive copy replays what an older active wrote).
//
//   type              written   readable
//   MessageAppended   v2        v1 (no prefix), v2 (v2.ts)
//   every other       v1        v1 (v1.ts)

import { assert } from '../assert.js';
import { EventType, type MailEvent } from './types.js';
import * as v1 from './v1.js';
import * as v2 from './v2.js';

export interface EncodedEvent {
  readonly type: number;
  readonly version: number;
  readonly payload: Uint8Array;
}

export function encodeRecord(event: MailEvent): EncodedEvent {
  if (event.type === EventType.MessageAppended) return { type: event.type, version: v2.messageAppendedVersion, payload: v2.encodeMessageAppended(event) };
  return { type: event.type, version: v1.codecVersion, payload: v1.encodeEvent(event) };
}

export function decodeEvent(type: number, version: number, payload: Uint8Array): MailEvent {
  if (version === v1.codecVersion) return v1.decodeEvent(type, version, payload);
  assert(type === EventType.MessageAppended && version === v2.messageAppendedVersion, `event type ${type} version ${version} is not readable`);
  return v2.decodeMessageAppended(payload);
}
