// Event codec, version 1.
//
// A record's type field is the event type; its version field is 1. The payload is:
//
//   0          4                      4 + jsonBytes
//   +----------+----------------------+------------------------+
//   | jsonBytes| JSON of the event    | raw bytes (ContentStored|
//   |   u32 LE | without `type`/`data`| data only, else empty) |
//   +----------+----------------------+------------------------+
//
// JSON keeps metadata events readable in a hex dump and easy to evolve (a v2 folder would sit
// beside this file); content bytes stay raw so large messages are not base64-inflated.

import { assert } from '../assert.js';
import { EventType, type MailEvent, type EventTypeCode } from './types.js';

export const codecVersion = 1;
const knownTypes = new Set<number>(Object.values(EventType));

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEvent(event: MailEvent): Uint8Array {
  const { type, ...rest } = event as MailEvent & { data?: Uint8Array };
  let data: Uint8Array | null = null;
  if (event.type === EventType.ContentStored) {
    data = event.data;
    delete (rest as { data?: Uint8Array }).data;
  }
  const json = textEncoder.encode(JSON.stringify(rest));
  const out = new Uint8Array(4 + json.length + (data?.length ?? 0));
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  if (data !== null) out.set(data, 4 + json.length);
  assert(knownTypes.has(type), `unknown event type ${type}`);
  return out;
}

export function decodeEvent(type: number, version: number, payload: Uint8Array): MailEvent {
  assert(version === codecVersion, `event version ${version} is not readable by codec v${codecVersion}`);
  assert(knownTypes.has(type), `unknown event type ${type}`);
  assert(payload.length >= 4, 'event payload shorter than its length prefix');
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const jsonBytes = view.getUint32(0, true);
  assert(4 + jsonBytes <= payload.length, 'event JSON runs past its payload');
  const body = JSON.parse(textDecoder.decode(payload.subarray(4, 4 + jsonBytes))) as Record<string, unknown>;
  const event = { type: type as EventTypeCode, ...body } as Record<string, unknown>;
  if (type === EventType.ContentStored) event.data = payload.slice(4 + jsonBytes);
  else assert(payload.length === 4 + jsonBytes, 'unexpected bytes after event JSON');
  return event as unknown as MailEvent;
}
