// Event codec, version 1 (every type; MessageAppended is written as v2 since prefixes exist,
// and its v1 records, which never have a prefix, stay readable here).
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
import type { MessageSummary } from '../mime/types.js';

export const codecVersion = 1;
const knownTypes = new Set<number>(Object.values(EventType));

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** `u32 jsonBytes | JSON | raw`: the layout v1 and v2 share. */
export function joinPayload(json: object, raw: Uint8Array | null): Uint8Array {
  return joinText(JSON.stringify(json), raw);
}

function joinText(json: string, raw: Uint8Array | null): Uint8Array {
  const text = textEncoder.encode(json);
  const out = new Uint8Array(4 + text.length + (raw?.length ?? 0));
  new DataView(out.buffer).setUint32(0, text.length, true);
  out.set(text, 4);
  if (raw !== null) out.set(raw, 4 + text.length);
  return out;
}

/** The JSON fields and the raw bytes after them (a copy, so the event does not pin the record buffer). */
export function splitPayload(payload: Uint8Array): { body: Record<string, unknown>; raw: Uint8Array } {
  assert(payload.length >= 4, 'event payload shorter than its length prefix');
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const jsonBytes = view.getUint32(0, true);
  assert(4 + jsonBytes <= payload.length, 'event JSON runs past its payload');
  const body = JSON.parse(textDecoder.decode(payload.subarray(4, 4 + jsonBytes))) as Record<string, unknown>;
  return { body, raw: payload.slice(4 + jsonBytes) };
}

const summaryTexts = new WeakMap<MessageSummary, string>();

/**
 * A content's MIME summary as JSON, encoded once per summary object: the planner sizes the
 * ContentStored record with it and encodeEvent writes the same text.
 */
export function summaryJson(summary: MessageSummary): string {
  let text = summaryTexts.get(summary);
  if (text === undefined) {
    text = JSON.stringify(summary);
    summaryTexts.set(summary, text);
  }
  return text;
}

export function encodeEvent(event: MailEvent): Uint8Array {
  const { type, ...rest } = event as MailEvent & { data?: Uint8Array };
  assert(knownTypes.has(type), `unknown event type ${type}`);
  assert(event.type !== EventType.MessageAppended || (event.prefix?.length ?? 0) === 0, 'a message with a prefix needs codec v2');
  let data: Uint8Array | null = null;
  if (event.type === EventType.ContentStored) {
    data = event.data;
    delete (rest as { data?: Uint8Array }).data;
    if (event.summary !== undefined) {
      // The summary is the last field (as JSON.stringify would place it), spliced in as encoded once.
      delete (rest as { summary?: MessageSummary }).summary;
      return joinText(`${JSON.stringify(rest).slice(0, -1)},"summary":${summaryJson(event.summary)}}`, data);
    }
  }
  delete (rest as { prefix?: Uint8Array }).prefix;
  return joinPayload(rest, data);
}

export function decodeEvent(type: number, version: number, payload: Uint8Array): MailEvent {
  assert(version === codecVersion, `event version ${version} is not readable by codec v${codecVersion}`);
  assert(knownTypes.has(type), `unknown event type ${type}`);
  const { body, raw } = splitPayload(payload);
  const event = { type: type as EventTypeCode, ...body } as Record<string, unknown>;
  if (type === EventType.ContentStored) event.data = raw;
  else assert(raw.length === 0, 'unexpected bytes after event JSON');
  return event as unknown as MailEvent;
}
