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
// The planner gives a prefix only to content that starts with a header field
// (plan.ts takesPrefix), so the shifted summary is what parsing prefix + content would give.

import { headerFieldsMax } from './constants.js';
import { parseFields } from './header.js';
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
