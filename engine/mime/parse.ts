// MIME structure parsing (RFC 5322, RFC 2045-2049): a message's bytes to a MessageSummary —
// the IMAP ENVELOPE and BODYSTRUCTURE with byte offsets of every part, the JMAP body lists and
// preview, and the thread ids. Run once per content hash, when the content is first stored.
//
// Bounded and total: depth, part count and header size have limits (constants.ts), and any
// input, however broken, gives a summary (what was wrong goes to `problems`). Two invariants
// hold for every part, so encoders need no special cases:
//   - type "multipart" ⇔ children is non-empty (a multipart without a boundary or without any
//     part is given as text/plain; one past the depth limit as application/octet-stream);
//   - message/rfc822|global ⇔ message is non-null (an encoded or too-deep one is given as
//     application/octet-stream).

import { parseAddressList } from './address.js';
import { boundaryBytesMax, headerFieldsMax, mimeDepthMax, mimePartsMax, previewCharsMax, previewSourceBytesMax, referencesMax } from './constants.js';
import { base64DecodedBytes, decodeCharset, decodeParams, decodeQuotedPrintable, decodeTransfer, decodeWords, type Decoded } from './decode.js';
import { parseDate } from './date.js';
import { fieldValue, firstValue, headerEnd, messageIds, parseContentValue, parseFields } from './header.js';
import { type BodyPart, type BodyValue, type Envelope, type HeaderField, type MessageSummary, type MimeParams, summaryVersion } from './types.js';

interface Context {
  readonly bytes: Uint8Array;
  parts: number;
  readonly problems: Set<string>;
}

const LF = 0x0a;
const CR = 0x0d;

const joinId = (parent: string, index: number): string => (parent === '' ? String(index) : `${parent}.${index}`);

/** Summarizes a message. Never throws; a message of any shape gets a summary. */
export function summarize(bytes: Uint8Array): MessageSummary {
  const context: Context = { bytes, parts: 0, problems: new Set() };
  const { part: body, fields } = parseEntity(context, 0, bytes.length, 0, '', true, 'text', 'plain');
  const envelope = envelopeOf(bytes, fields);
  const references = messageIds(firstValue(bytes, fields, 'references'), referencesMax);
  const inReplyTo = messageIds(envelope.inReplyTo, referencesMax);
  const { textBody, htmlBody, attachments } = bodyLists(body);
  const byId = partsById(body);
  return {
    version: summaryVersion,
    sizeBytes: bytes.length,
    envelope,
    thread: { messageId: messageIds(envelope.messageId, 1)[0] ?? null, inReplyTo, references },
    headers: fields.slice(0, headerFieldsMax),
    body,
    textBody: textBody.map((p) => p.partId),
    htmlBody: htmlBody.map((p) => p.partId),
    attachments: attachments.map((p) => p.partId),
    hasAttachment: attachments.some((p) => p.disposition?.type !== 'inline'),
    preview: preview(bytes, textBody.length > 0 ? textBody : htmlBody, byId),
    problems: [...context.problems].sort(),
  };
}

function envelopeOf(bytes: Uint8Array, fields: readonly HeaderField[]): Envelope {
  const value = (name: string): string | null => firstValue(bytes, fields, name);
  const date = value('date');
  const parsed = parseDate(date);
  const subject = value('subject');
  return {
    date,
    dateMs: parsed?.ms ?? null,
    dateOffsetMinutes: parsed?.offsetMinutes ?? null,
    subject,
    subjectDecoded: subject === null ? null : decodeWords(subject).replace(/[\r\n]+/g, ''),
    from: parseAddressList(value('from')),
    sender: parseAddressList(value('sender')),
    replyTo: parseAddressList(value('reply-to')),
    to: parseAddressList(value('to')),
    cc: parseAddressList(value('cc')),
    bcc: parseAddressList(value('bcc')),
    inReplyTo: value('in-reply-to'),
    messageId: value('message-id'),
  };
}

function decodedParam(params: MimeParams, name: string): string | null {
  if (!params.some(([n]) => n === name || n.startsWith(`${name}*`))) return null;
  return decodeParams(params).get(name) ?? null;
}

function countLines(bytes: Uint8Array, start: number, end: number): number {
  if (end <= start) return 0;
  let lines = 0;
  for (let i = bytes.indexOf(LF, start); i >= 0 && i < end; i = bytes.indexOf(LF, i + 1)) lines++;
  return bytes[end - 1] === LF ? lines : lines + 1;
}

function decodedSize(bytes: Uint8Array, start: number, end: number, encoding: string): number {
  if (encoding === 'base64') return base64DecodedBytes(bytes.subarray(start, end));
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(bytes.subarray(start, end)).value.length;
  return end - start;
}

/** Where each part of a multipart body starts and ends (RFC 2046 5.1.1). */
function splitMultipart(bytes: Uint8Array, start: number, end: number, boundary: string): Array<[number, number]> {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const ranges: Array<[number, number]> = [];
  let partStart = -1;
  let lineStart = start;
  while (lineStart < end) {
    let lineEnd = bytes.indexOf(LF, lineStart);
    lineEnd = lineEnd < 0 || lineEnd >= end ? end : lineEnd + 1;
    if (lineEnd - lineStart >= delimiter.length && bytes[lineStart] === 0x2d && bytes[lineStart + 1] === 0x2d && matches(bytes, lineStart, delimiter)) {
      let k = lineStart + delimiter.length;
      const close = bytes[k] === 0x2d && bytes[k + 1] === 0x2d;
      if (close) k += 2;
      while (k < lineEnd && (bytes[k] === 0x20 || bytes[k] === 0x09 || bytes[k] === CR || bytes[k] === LF)) k++;
      if (k === lineEnd) {
        if (partStart >= 0) {
          // The line ending before a delimiter belongs to the delimiter.
          let partEnd = lineStart;
          if (partEnd > partStart && bytes[partEnd - 1] === LF) partEnd--;
          if (partEnd > partStart && bytes[partEnd - 1] === CR) partEnd--;
          ranges.push([partStart, partEnd]);
        }
        if (close) return ranges;
        partStart = lineEnd;
      }
    }
    lineStart = lineEnd;
  }
  if (partStart >= 0) ranges.push([partStart, end]); // no close delimiter: the last part runs to the end
  return ranges;
}

function matches(bytes: Uint8Array, at: number, pattern: Uint8Array): boolean {
  for (let i = 0; i < pattern.length; i++) if (bytes[at + i] !== pattern[i]) return false;
  return true;
}

/**
 * One entity [start, end): its header, then its body as a leaf, a multipart or an encapsulated
 * message. `section` is the IMAP number the entity gets if it is not a multipart at the root of
 * a message (`messageRoot`: then a multipart takes the number and a leaf gets `section.1`).
 */
function parseEntity(
  context: Context,
  start: number,
  end: number,
  depth: number,
  section: string,
  messageRoot: boolean,
  defaultType: string,
  defaultSubtype: string,
): { part: BodyPart; fields: HeaderField[] } {
  const { bytes } = context;
  context.parts++;
  const bodyStart = headerEnd(bytes, start, end);
  const header = parseFields(bytes, start, bodyStart);
  if (header.truncated) context.problems.add('header over limit: later fields ignored');
  const fields = header.fields;
  const value = (name: string): string | null => firstValue(bytes, fields, name);

  const contentType = value('content-type');
  const parsedType = contentType === null ? null : parseContentValue(contentType);
  let type = defaultType;
  let subtype = defaultSubtype;
  let params: MimeParams = parsedType?.params ?? [];
  const typeMatch = parsedType === null ? null : /^([a-z0-9!#$&^_.+-]+)\/([a-z0-9!#$&^_.+-]+)$/.exec(parsedType.value);
  if (typeMatch !== null) {
    type = typeMatch[1]!;
    subtype = typeMatch[2]!;
  } else if (parsedType !== null) {
    context.problems.add('bad Content-Type: default used');
    params = defaultType === 'text' ? params.filter(([n]) => n === 'charset') : [];
  }
  const encodingValue = value('content-transfer-encoding');
  const encoding = encodingValue === null ? '7bit' : encodingValue.replace(/\([^)]*\)/g, '').trim().toLowerCase() || '7bit';

  let children: BodyPart[] = [];
  let message: BodyPart['message'] = null;
  let partId = messageRoot ? joinId(section, 1) : section;

  if (type === 'multipart') {
    const boundary = decodedParam(params, 'boundary');
    if (depth >= mimeDepthMax) {
      context.problems.add('nesting over limit: deeper parts not parsed');
      type = 'application';
      subtype = 'octet-stream';
    } else if (boundary === null || boundary.length === 0 || boundary.length > boundaryBytesMax) {
      context.problems.add('multipart without a usable boundary: read as text/plain');
      type = 'text';
      subtype = 'plain';
      params = [];
    } else {
      const id = messageRoot ? section : partId;
      const childType = subtype === 'digest' ? ['message', 'rfc822'] : ['text', 'plain'];
      for (const [childStart, childEnd] of splitMultipart(bytes, bodyStart, end, boundary)) {
        if (context.parts >= mimePartsMax) {
          context.problems.add('part count over limit: later parts not parsed');
          break;
        }
        children.push(parseEntity(context, childStart, childEnd, depth + 1, joinId(id, children.length + 1), false, childType[0]!, childType[1]!).part);
      }
      if (children.length === 0) {
        context.problems.add('multipart without parts: read as text/plain');
        type = 'text';
        subtype = 'plain';
        params = [];
      } else partId = id;
    }
  } else if (type === 'message' && (subtype === 'rfc822' || subtype === 'global')) {
    if (depth >= mimeDepthMax || context.parts >= mimePartsMax || !['7bit', '8bit', 'binary'].includes(encoding)) {
      context.problems.add(depth >= mimeDepthMax ? 'nesting over limit: deeper parts not parsed' : context.parts >= mimePartsMax ? 'part count over limit: later parts not parsed' : 'encoded message/rfc822: not parsed');
      type = 'application';
      subtype = 'octet-stream';
    } else {
      const inner = parseEntity(context, bodyStart, end, depth + 1, partId, true, 'text', 'plain');
      message = { envelope: envelopeOf(bytes, inner.fields), body: inner.part };
    }
  }
  if (type !== 'multipart') children = [];

  const dispositionValue = value('content-disposition');
  const disposition = dispositionValue === null ? null : parseContentValue(dispositionValue);
  const languageValue = value('content-language');
  const id = value('content-id');
  const charset = decodedParam(params, 'charset');
  const name = (disposition === null ? null : decodedParam(disposition.params, 'filename')) ?? decodedParam(params, 'name');
  const isText = type === 'text';
  return {
    fields,
    part: {
      partId,
      type,
      subtype,
      params,
      charset: charset !== null ? charset.toLowerCase() : isText ? 'us-ascii' : null,
      name,
      id,
      cid: id === null ? null : id.replace(/^\s*<\s*/, '').replace(/\s*>\s*$/, ''),
      description: value('content-description'),
      encoding,
      md5: value('content-md5'),
      disposition: disposition === null || disposition.value === '' ? null : { type: disposition.value, params: disposition.params },
      language: languageValue === null ? null : languageValue.replace(/\([^)]*\)/g, '').split(/[\s,]+/).filter((t) => t.length > 0),
      location: value('content-location')?.replace(/\s+/g, '') ?? null,
      headerStart: start,
      bodyStart,
      bodyEnd: end,
      sizeBytes: end - bodyStart,
      decodedSizeBytes: type === 'multipart' || message !== null ? end - bodyStart : decodedSize(bytes, bodyStart, end, encoding),
      lines: isText || message !== null ? countLines(bytes, bodyStart, end) : null,
      children,
      message,
    },
  };
}

/** Every part by partId (multiparts included; an id shared by a message and its multipart body maps to the message part). */
export function partsById(root: BodyPart): Map<string, BodyPart> {
  const out = new Map<string, BodyPart>();
  const visit = (part: BodyPart): void => {
    if (!out.has(part.partId)) out.set(part.partId, part);
    for (const child of part.children) visit(child);
    if (part.message !== null) visit(part.message.body);
  };
  visit(root);
  return out;
}

const isInlineMedia = (part: BodyPart): boolean => part.type === 'image' || part.type === 'audio' || part.type === 'video';

/** RFC 8621 4.1.4: textBody, htmlBody and attachments, by the RFC's own algorithm. */
export function bodyLists(root: BodyPart): { textBody: BodyPart[]; htmlBody: BodyPart[]; attachments: BodyPart[] } {
  const textBody: BodyPart[] = [];
  const htmlBody: BodyPart[] = [];
  const attachments: BodyPart[] = [];
  const walk = (parts: readonly BodyPart[], multipartType: string, inAlternative: boolean, text: BodyPart[] | null, html: BodyPart[] | null): void => {
    const textLength = text === null ? -1 : text.length;
    const htmlLength = html === null ? -1 : html.length;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const full = `${part.type}/${part.subtype}`;
      const isInline =
        part.disposition?.type !== 'attachment' &&
        (full === 'text/plain' || full === 'text/html' || isInlineMedia(part)) &&
        (i === 0 || (multipartType !== 'related' && (isInlineMedia(part) || part.name === null)));
      if (part.type === 'multipart') {
        walk(part.children, part.subtype, inAlternative || part.subtype === 'alternative', text, html);
      } else if (isInline) {
        if (multipartType === 'alternative') {
          if (full === 'text/plain') text?.push(part);
          else if (full === 'text/html') html?.push(part);
          else attachments.push(part);
          continue;
        }
        let t = text;
        let h = html;
        if (inAlternative) {
          if (full === 'text/plain') h = null;
          if (full === 'text/html') t = null;
        }
        t?.push(part);
        h?.push(part);
        if ((t === null || h === null) && isInlineMedia(part)) attachments.push(part);
      } else {
        attachments.push(part);
      }
    }
    if (multipartType === 'alternative' && text !== null && html !== null) {
      if (textLength === text.length && htmlLength !== html.length) for (let i = htmlLength; i < html.length; i++) text.push(html[i]!);
      if (htmlLength === html.length && textLength !== text.length) for (let i = textLength; i < text.length; i++) html.push(text[i]!);
    }
  };
  walk([root], 'mixed', false, textBody, htmlBody);
  return { textBody, htmlBody, attachments };
}

/** A leaf part's content, transfer- and charset-decoded, at most `bytesMax` encoded bytes of it. */
export function partText(bytes: Uint8Array, part: BodyPart, bytesMax = Infinity): Decoded<string> & { truncated: boolean } {
  const end = Math.min(part.bodyEnd, part.bodyStart + bytesMax);
  const transfer = decodeTransfer(bytes.subarray(part.bodyStart, end), part.encoding);
  const text = decodeCharset(transfer.value, part.type === 'text' ? part.charset : part.charset ?? 'utf-8');
  return { value: text.value, problem: transfer.problem || text.problem || !transfer.known, truncated: end < part.bodyEnd };
}

/** JMAP bodyValues of a message's leaf parts (unknown or non-leaf partIds left out); `bytesMax` > 0 truncates each value's UTF-8 form. */
export function bodyValuesOf(bytes: Uint8Array, summary: MessageSummary, partIds: readonly string[], bytesMax: number): Record<string, BodyValue> {
  const byId = partsById(summary.body);
  const out: Record<string, BodyValue> = {};
  for (const partId of partIds) {
    const part = byId.get(partId);
    if (part === undefined || part.type === 'multipart' || part.message !== null) continue;
    const text = partText(bytes, part);
    const value = bytesMax > 0 ? truncateUtf8(text.value, bytesMax) : text.value;
    out[partId] = { value, isEncodingProblem: text.problem, isTruncated: value.length < text.value.length };
  }
  return out;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** The longest prefix of `text` whose UTF-8 form fits in `bytesMax` (never splitting a character). */
function truncateUtf8(text: string, bytesMax: number): string {
  if (text.length * 3 <= bytesMax) return text;
  const encoded = utf8Encoder.encode(text);
  if (encoded.length <= bytesMax) return text;
  let end = bytesMax;
  while (end > 0 && (encoded[end]! & 0xc0) === 0x80) end--;
  return utf8Decoder.decode(encoded.subarray(0, end));
}

/** Crude HTML to text for previews and search: tags, scripts and styles out, entities in. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(br|p|div|tr|li|h[1-6])\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/gi, ' ')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/&quot;/gi, '"')
    .replace(/&#39;|&apos;/gi, "'")
    .replace(/&#(\d{1,7});/g, (_, n: string) => (Number(n) <= 0x10ffff ? String.fromCodePoint(Number(n)) : ' '))
    .replace(/&#x([0-9a-f]{1,6});/gi, (_, n: string) => (parseInt(n, 16) <= 0x10ffff ? String.fromCodePoint(parseInt(n, 16)) : ' '))
    .replace(/&amp;/gi, '&');
}

function preview(bytes: Uint8Array, parts: readonly BodyPart[], byId: Map<string, BodyPart>): string {
  let out = '';
  for (const part of parts) {
    if (part.type !== 'text') continue;
    const text = partText(bytes, byId.get(part.partId) ?? part, previewSourceBytesMax).value;
    out += ' ' + (part.subtype === 'html' ? htmlToText(text) : text);
    if (out.length > previewCharsMax * 4) break;
  }
  // Words joined by one space, only as many as the preview needs (2 UTF-16 units per character at most).
  let collapsed = '';
  for (const match of out.matchAll(/\S+/g)) {
    collapsed += (collapsed === '' ? '' : ' ') + match[0];
    if (collapsed.length >= previewCharsMax * 2) break;
  }
  return Array.from(collapsed.slice(0, previewCharsMax * 2)).slice(0, previewCharsMax).join('');
}

export { fieldValue };
