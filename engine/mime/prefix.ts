// A message kept as a per-message header prefix in front of a shared content (a delivery's
// Return-Path and Delivered-To in front of the bytes every recipient shares) is read as
// prefix + content. The content's summary was parsed once, when the content was stored; this
// is the one place that turns it into the message's summary: every offset moves by the
// prefix's length and the prefix's fields come first in the top-level header. The envelope,
// the structure and the thread ids are the content's (a prefix holds trace fields).
//
//   0        P                               P + content
//   | prefix | content header | CRLF | body  |
//   |<------ message header ------->|
//
// The planner keeps a prefix apart only when that reads exactly as parsing prefix + content
// would: the prefix holds no field the summary reads (`isSummaryField`: envelope, thread and
// Content-* fields), and the content starts with a header field and leaves room for the
// prefix's bytes and fields under the header limits (`headerTakesPrefix`; else the whole
// parse would drop the content's last fields). Otherwise the message is stored whole.

import { headerBytesMax, headerFieldsMax } from './constants.js';
import { headerEnd, parseFields } from './header.js';
import type { BodyPart, MessageSummary } from './types.js';

function shiftPart(part: BodyPart, by: number, root: boolean): BodyPart {
  return {
    ...part,
    // The message's header starts at 0: the prefix is part of it.
    headerStart: root ? 0 : part.headerStart + by,
    bodyStart: part.bodyStart + by,
    bodyEnd: part.bodyEnd + by,
    children: part.children.map((child) => shiftPart(child, by, false)),
    message: part.message === null ? null : { envelope: part.message.envelope, body: shiftPart(part.message.body, by, false) },
  };
}

/** The summary of prefix + content, from the content's. The same object when there is no prefix. */
export function withPrefix(summary: MessageSummary, prefix: Uint8Array): MessageSummary {
  const by = prefix.length;
  if (by === 0) return summary;
  const own = parseFields(prefix, 0, by).fields;
  const shifted = summary.headers.map((field) => ({ ...field, start: field.start + by, end: field.end + by, valueStart: field.valueStart + by }));
  return {
    ...summary,
    sizeBytes: summary.sizeBytes + by,
    headers: [...own, ...shifted].slice(0, headerFieldsMax),
    body: shiftPart(summary.body, by, true),
  };
}

/** The header fields the envelope and thread ids are built from (parse.ts). */
const summaryFields: ReadonlySet<string> = new Set(['date', 'subject', 'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'in-reply-to', 'message-id', 'references']);

/** Whether the summary reads a field of that (lower-case) name (Content-* included): a prefix holding one would change it. */
export function isSummaryField(name: string): boolean {
  return summaryFields.has(name) || name.startsWith('content-');
}

const headerRooms = new WeakMap<Uint8Array, { readonly bytes: number; readonly fields: number; readonly truncated: boolean }>();

/**
 * Whether `content`'s header leaves room for a prefix of `prefixBytes` bytes holding
 * `prefixFields` fields: parsing prefix + content then keeps every field the content's own
 * parse kept (headerBytesMax, headerFieldsMax). Cached per content array (a delivery's
 * recipients share one).
 */
export function headerTakesPrefix(content: Uint8Array, prefixBytes: number, prefixFields: number): boolean {
  let room = headerRooms.get(content);
  if (room === undefined) {
    const end = headerEnd(content, 0, content.length);
    const parsed = parseFields(content, 0, end);
    room = { bytes: end, fields: parsed.fields.length, truncated: parsed.truncated };
    headerRooms.set(content, room);
  }
  return !room.truncated && room.bytes + prefixBytes <= headerBytesMax && room.fields + prefixFields <= headerFieldsMax;
}
