// What a content search looks at, and the brute-force matcher that defines the results.
//
// A message's searchable text is built once from its bytes and MIME summary:
//   - header fields: name and value, unfolded, RFC 2047 decoded (top-level header);
//   - body: every text/* part, transfer- and charset-decoded (HTML reduced to text), and the
//     header fields and text parts of encapsulated messages, in order.
// Matching is a substring test on folded text (RFC 9051 6.4.4: case-insensitive; here for all
// of Unicode): NFKC, case folded (lower, upper, lower: ß = ss), whitespace runs as one space.
// The index (index.ts) must give exactly these results; index.test.ts proves it.

import { fieldValue, htmlToText, partText } from '../mime/parse.js';
import { decodeWords } from '../mime/decode.js';
import { parseFields } from '../mime/header.js';
import type { BodyPart, MessageSummary } from '../mime/types.js';
import type { ContentCriterion } from './types.js';
import { bodyTextBytesMax } from './constants.js';

export function fold(text: string): string {
  // ASCII is its own NFKC form and its case round trip is plain lower-casing.
  if (!nonAscii.test(text)) return text.toLowerCase().replace(/\s+/g, ' ');
  return text.normalize('NFKC').toLowerCase().toUpperCase().toLowerCase().replace(/\s+/gu, ' ');
}

// eslint-disable-next-line no-control-regex
const nonAscii = /[^\x00-\x7f]/;

/** Word characters: letters, digits, marks. Context-free on purpose (see README: exactness). */
export const wordChar = /[\p{L}\p{N}\p{M}]/u;

export interface SearchText {
  /** Top-level header fields: lower-cased name, decoded value. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
}

export function searchText(bytes: Uint8Array, summary: MessageSummary): SearchText {
  const headers = summary.headers.map((field) => [field.name, decodeWords(fieldValue(bytes, field))] as const);
  const pieces: string[] = [];
  let budget = bodyTextBytesMax;
  const visit = (part: BodyPart): void => {
    if (budget <= 0) return;
    if (part.message !== null) {
      for (const field of parseFields(bytes, part.message.body.headerStart, part.message.body.bodyStart).fields) {
        pieces.push(`${field.name}: ${decodeWords(fieldValue(bytes, field))}`);
      }
      visit(part.message.body);
      return;
    }
    for (const child of part.children) visit(child);
    if (part.type !== 'text' || part.children.length > 0) return;
    const text = partText(bytes, part, budget).value;
    budget -= part.sizeBytes;
    pieces.push(part.subtype === 'html' ? htmlToText(text) : text);
  };
  visit(summary.body);
  return { headers, body: pieces.join('\n') };
}

/** The text one header name is searched in: every field of that name, one per line; null if none. */
export function headerText(text: SearchText, name: string): string | null {
  const values = text.headers.filter(([n]) => n === name).map(([, v]) => v);
  return values.length === 0 ? null : values.join('\n');
}

/** All header fields as "name: value" lines (the header half of TEXT). */
export function allHeadersText(text: SearchText): string {
  return text.headers.map(([n, v]) => `${n}: ${v}`).join('\n');
}

/**
 * The brute-force matcher: the definition of a content search's results. A message kept as a
 * prefix in front of a shared content (engine/mime/prefix.ts) is searched as both: each key
 * matches when it matches the content's text or the prefix's fields (`prefixTextOf`), so the
 * content index still answers for the content and only the small prefix is looked at per
 * message. (A HEADER or TEXT string spanning the prefix's last field and the content's first,
 * across the line break, is the one case this reads differently from the whole message.)
 */
export function matches(text: SearchText, criterion: ContentCriterion, prefix: SearchText | null = null): boolean {
  switch (criterion.key) {
    case 'and':
      return criterion.of.every((c) => matches(text, c, prefix));
    case 'or':
      return criterion.of.some((c) => matches(text, c, prefix));
    case 'not':
      return !matches(text, criterion.of, prefix);
    default:
      return matchesKey(text, criterion) || (prefix !== null && matchesKey(prefix, criterion));
  }
}

function matchesKey(text: SearchText, criterion: Exclude<ContentCriterion, { key: 'and' | 'or' | 'not' }>): boolean {
  switch (criterion.key) {
    case 'body':
      return fold(text.body).includes(fold(criterion.value));
    case 'text': {
      const q = fold(criterion.value);
      return fold(allHeadersText(text)).includes(q) || fold(text.body).includes(q);
    }
    default: {
      const name = criterion.key === 'header' ? criterion.name.toLowerCase() : criterion.key;
      const value = headerText(text, name);
      return value !== null && fold(value).includes(fold(criterion.value));
    }
  }
}

/** A message prefix's searchable text: its header fields (no body). */
export function prefixTextOf(prefix: Uint8Array): SearchText {
  return { headers: parseFields(prefix, 0, prefix.length).fields.map((field) => [field.name, decodeWords(fieldValue(prefix, field))] as const), body: '' };
}
