// Header sections (RFC 5322 2.2): where a header ends, its fields with byte offsets, unfolded
// values, and the structured-field tokenizer that Content-Type, Content-Disposition and the
// address headers share (RFC 5322 3.2: quoted strings, comments, specials).

import { headerBytesMax, headerFieldsMax, paramsMax } from './constants.js';
import { headerText } from './decode.js';
import type { HeaderField, MimeParams } from './types.js';

const LF = 0x0a;
const CR = 0x0d;

/**
 * The end of the header that starts at `start` (the offset just past the blank line that ends
 * it), or `end` when there is no blank line (then the whole entity is header and the body is
 * empty). An entity starting with a blank line has an empty header.
 */
export function headerEnd(bytes: Uint8Array, start: number, end: number): number {
  if (bytes[start] === LF) return start + 1;
  if (bytes[start] === CR && bytes[start + 1] === LF) return start + 2;
  let i = bytes.indexOf(LF, start);
  while (i >= 0 && i < end) {
    const next = i + 1;
    if (next >= end) return end;
    if (bytes[next] === LF) return next + 1;
    if (bytes[next] === CR && next + 1 < end && bytes[next + 1] === LF) return next + 2;
    i = bytes.indexOf(LF, next);
  }
  return end;
}

export interface ParsedHeader {
  readonly fields: HeaderField[];
  /** Fields were dropped because of headerBytesMax or headerFieldsMax. */
  readonly truncated: boolean;
}

const isBlank = (b: number | undefined): boolean => b === 0x20 || b === 0x09;

/**
 * The fields of the header [start, end). A line that is neither a field nor a continuation
 * (no colon, as in an mbox "From " line) is skipped; a continuation before any field too.
 */
export function parseFields(bytes: Uint8Array, start: number, end: number): ParsedHeader {
  const fields: HeaderField[] = [];
  let truncated = false;
  let i = start;
  const limit = Math.min(end, start + headerBytesMax);
  while (i < end) {
    let lineEnd = bytes.indexOf(LF, i);
    lineEnd = lineEnd < 0 || lineEnd >= end ? end : lineEnd + 1;
    if (lineEnd - i <= 2 && (bytes[i] === LF || (bytes[i] === CR && bytes[i + 1] === LF))) break; // the blank line
    if (i >= limit || fields.length >= headerFieldsMax) {
      truncated = true;
      break;
    }
    // Extend over continuation lines.
    let fieldEnd = lineEnd;
    while (fieldEnd < end && isBlank(bytes[fieldEnd])) {
      const next = bytes.indexOf(LF, fieldEnd);
      fieldEnd = next < 0 || next >= end ? end : next + 1;
    }
    const colon = bytes.indexOf(0x3a, i);
    if (colon > i && colon < lineEnd && !isBlank(bytes[i])) {
      let nameEnd = colon;
      while (nameEnd > i && isBlank(bytes[nameEnd - 1])) nameEnd--; // obs-fields allow WSP before the colon
      let name = '';
      let ok = nameEnd > i;
      for (let k = i; k < nameEnd; k++) {
        const c = bytes[k]!;
        if (c <= 0x20 || c >= 0x7f) ok = false;
        name += String.fromCharCode(c);
      }
      if (ok) fields.push({ name: name.toLowerCase(), start: i, end: fieldEnd, valueStart: colon + 1 });
    }
    i = fieldEnd;
  }
  return { fields, truncated };
}

/** A field's value, unfolded (line endings removed, RFC 5322 2.2.3), leading blanks trimmed. */
export function fieldValue(bytes: Uint8Array, field: HeaderField): string {
  return headerText(bytes.subarray(field.valueStart, field.end))
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/\r?\n$/, '')
    .replace(/^[ \t]+/, '');
}

/** The value of the first field named `name` (lower case), or null. */
export function firstValue(bytes: Uint8Array, fields: readonly HeaderField[], name: string): string | null {
  for (const field of fields) if (field.name === name) return fieldValue(bytes, field);
  return null;
}

// ---- Structured field tokens (RFC 5322 3.2.2-3.2.5) ----

export type Token =
  | { readonly kind: 'atom'; readonly text: string }
  | { readonly kind: 'quoted'; readonly text: string }
  | { readonly kind: 'comment'; readonly text: string }
  | { readonly kind: 'special'; readonly text: string }
  | { readonly kind: 'literal'; readonly text: string };

/**
 * Splits a structured value into tokens. `specials` are single characters that stand alone.
 * Unterminated quotes, comments and domain literals run to the end; nothing throws.
 */
export function tokenize(value: string, specials: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === '"') {
      let text = '';
      i++;
      while (i < value.length && value[i] !== '"') {
        if (value[i] === '\\' && i + 1 < value.length) i++;
        if (value[i] !== '\r' && value[i] !== '\n') text += value[i];
        i++;
      }
      i++;
      tokens.push({ kind: 'quoted', text });
    } else if (c === '(') {
      let depth = 1;
      let text = '';
      i++;
      while (i < value.length && depth > 0) {
        const d = value[i]!;
        if (d === '\\' && i + 1 < value.length) {
          text += value[i + 1];
          i += 2;
          continue;
        }
        if (d === '(') depth++;
        if (d === ')') depth--;
        if (depth > 0) text += d;
        i++;
      }
      tokens.push({ kind: 'comment', text });
    } else if (c === '[' && specials.includes('[')) {
      const close = value.indexOf(']', i);
      const stop = close < 0 ? value.length : close + 1;
      tokens.push({ kind: 'literal', text: value.slice(i, stop) });
      i = stop;
    } else if (specials.includes(c)) {
      tokens.push({ kind: 'special', text: c });
      i++;
    } else {
      let j = i;
      while (j < value.length && !' \t\r\n"('.includes(value[j]!) && !specials.includes(value[j]!)) j++;
      tokens.push({ kind: 'atom', text: value.slice(i, j) });
      i = j;
    }
  }
  return tokens;
}

export interface ContentValue {
  /** The value before the first ';' (lower-cased): `text/plain`, `attachment`. */
  readonly value: string;
  readonly params: MimeParams;
}

/**
 * Content-Type / Content-Disposition (RFC 2045 5.1, RFC 2183): `value; name=value; ...`.
 * Parameter names are lower-cased; values unquoted. A parameter without '=' is skipped.
 */
export function parseContentValue(text: string): ContentValue {
  // tspecials, minus '/' and '.', which are fine inside the type and in atoms of values.
  const tokens = tokenize(text, ';=');
  let i = 0;
  let value = '';
  while (i < tokens.length && !(tokens[i]!.kind === 'special' && tokens[i]!.text === ';')) {
    const token = tokens[i]!;
    if (token.kind !== 'comment') value += token.text;
    i++;
  }
  const params: Array<readonly [string, string]> = [];
  while (i < tokens.length && params.length < paramsMax) {
    i++; // the ';'
    const parts: Token[] = [];
    while (i < tokens.length && !(tokens[i]!.kind === 'special' && tokens[i]!.text === ';')) {
      if (tokens[i]!.kind !== 'comment') parts.push(tokens[i]!);
      i++;
    }
    const eq = parts.findIndex((t) => t.kind === 'special' && t.text === '=');
    if (eq <= 0) continue;
    const name = parts.slice(0, eq).map((t) => t.text).join('').toLowerCase();
    // A value with unquoted spaces (a common violation) keeps them.
    const rest = parts.slice(eq + 1);
    const paramValue = rest.map((t) => t.text).join(rest.some((t) => t.kind === 'quoted') ? '' : ' ');
    if (name.length > 0) params.push([name, paramValue]);
  }
  return { value: value.toLowerCase(), params };
}

/** Message ids in a References / In-Reply-To / Message-ID value, without angle brackets. */
export function messageIds(text: string | null, max: number): string[] {
  if (text === null) return [];
  const ids: string[] = [];
  for (const match of text.matchAll(/<([^<>\s]+)>/g)) {
    if (ids.length >= max) break;
    ids.push(match[1]!);
  }
  // A bare id without brackets (seen in the wild) is accepted when it is the whole value.
  if (ids.length === 0 && /^[^<>\s()]+@[^<>\s()]+$/.test(text.trim())) ids.push(text.trim());
  return ids;
}
