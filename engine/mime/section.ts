// IMAP sections (RFC 9051 6.4.5) as slices of the stored bytes: BODY[1.2], BODY[2.MIME],
// BODY[1.HEADER], BODY[TEXT], BODY[HEADER.FIELDS (...)], and BINARY[...] (RFC 3516) decoded.

import { decodeTransfer } from './decode.js';
import { parseFields } from './header.js';
import type { BodyPart, MessageSummary, Section } from './types.js';

/**
 * The entity a section path names, and the message it sits in. null when the path names no
 * part (a number past the last part, or a number below a leaf).
 */
function resolve(summary: MessageSummary, path: readonly number[]): { node: BodyPart | null; messageBody: BodyPart } | null {
  let messageBody = summary.body;
  let node: BodyPart | null = null;
  for (const n of path) {
    if (!Number.isInteger(n) || n < 1) return null;
    if (node !== null) {
      if (node.type === 'multipart') {
        node = node.children[n - 1] ?? null;
        if (node === null) return null;
        continue;
      }
      if (node.message === null) return null;
      messageBody = node.message.body;
    }
    // At the level of a message: its multipart body's parts, or its one body as part 1.
    if (messageBody.type === 'multipart') node = messageBody.children[n - 1] ?? null;
    else node = n === 1 ? messageBody : null;
    if (node === null) return null;
  }
  return { node, messageBody };
}

/** Byte range of a section; null if it names nothing. HEADER.FIELDS gives the whole header's range (filter with headerFields). */
export function sectionRange(summary: MessageSummary, section: Section): { start: number; end: number } | null {
  const found = resolve(summary, section.path);
  if (found === null) return null;
  const { node, messageBody } = found;
  const specifier = section.specifier;
  if (specifier === 'MIME') return node === null ? null : { start: node.headerStart, end: node.bodyStart };
  if (specifier === undefined) return node === null ? { start: 0, end: summary.sizeBytes } : { start: node.bodyStart, end: node.bodyEnd };
  // HEADER, HEADER.FIELDS(.NOT), TEXT: of the message itself or of an encapsulated message.
  const message = node === null ? messageBody : node.message?.body ?? null;
  if (message === null) return null;
  return specifier === 'TEXT' ? { start: message.bodyStart, end: message.bodyEnd } : { start: message.headerStart, end: message.bodyStart };
}

const crlf = new Uint8Array([0x0d, 0x0a]);

/** The fields of a header named (or, with `not`, not named) in `names`, in order, then a blank line (RFC 9051 6.4.5). */
export function headerFields(bytes: Uint8Array, start: number, end: number, names: readonly string[], not: boolean): Uint8Array {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const chunks: Uint8Array[] = [];
  for (const field of parseFields(bytes, start, end).fields) {
    if (wanted.has(field.name) !== not) chunks.push(bytes.subarray(field.start, field.end));
  }
  chunks.push(crlf);
  return Buffer.concat(chunks);
}

/** The section's bytes (BODY[...]); null if the section names nothing. */
export function sectionBytes(bytes: Uint8Array, summary: MessageSummary, section: Section): Uint8Array | null {
  const range = sectionRange(summary, section);
  if (range === null) return null;
  if (section.specifier === 'HEADER.FIELDS' || section.specifier === 'HEADER.FIELDS.NOT') {
    return headerFields(bytes, range.start, range.end, section.fields ?? [], section.specifier === 'HEADER.FIELDS.NOT');
  }
  return bytes.subarray(range.start, range.end);
}

/**
 * BINARY[path] (RFC 3516): a leaf part's content with its transfer encoding undone; the whole
 * message, multiparts and messages as they are. `unknownEncoding` when the encoding is not
 * one we can undo (IMAP answers NO [UNKNOWN-CTE]).
 */
export function binaryBytes(bytes: Uint8Array, summary: MessageSummary, path: readonly number[]): Uint8Array | null | 'unknownEncoding' {
  const found = resolve(summary, path);
  if (found === null) return null;
  const node = found.node;
  if (node === null) return bytes;
  const body = bytes.subarray(node.bodyStart, node.bodyEnd);
  if (node.type === 'multipart' || node.message !== null) return body;
  const decoded = decodeTransfer(body, node.encoding);
  return decoded.known ? decoded.value : 'unknownEncoding';
}

/** Parses "1.2.MIME", "HEADER.FIELDS (From To)", "" into a Section; null if it is not one. */
export function parseSection(text: string): Section | null {
  const match = /^((?:[1-9]\d*)(?:\.[1-9]\d*)*)?(?:\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)(?:\s*\(([^)]*)\))?)?$/i.exec(text.trim());
  if (match === null) return null;
  const path = match[1] === undefined ? [] : match[1].split('.').map(Number);
  if (match[1] !== undefined && match[2] !== undefined && !text.trim().slice(match[1].length).startsWith('.')) return null;
  const specifier = match[2]?.toUpperCase() as Section['specifier'];
  if (specifier === 'MIME' && path.length === 0) return null;
  const fields = match[3]?.trim().split(/\s+/).filter((f) => f.length > 0);
  if ((specifier === 'HEADER.FIELDS' || specifier === 'HEADER.FIELDS.NOT') !== (fields !== undefined && fields.length > 0)) return null;
  return { path, ...(specifier === undefined ? {} : { specifier }), ...(fields === undefined ? {} : { fields }) };
}
