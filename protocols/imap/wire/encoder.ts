// Typed responses to bytes. Everything a server sends is built from a few primitives that can
// never emit a bare CR or LF outside a literal: strings pick atom, quoted or literal form by
// looking at their bytes; free text has CR/LF replaced. The building blocks (ResponseWriter,
// envelope, bodyStructure, sequenceSetText) let command handlers compose FETCH and friends.

import assert from 'node:assert/strict';
import { mutf7Encode } from './mutf7.js';
import type { BodyParams, BodyStructure, Envelope, EnvelopeAddress, FetchAttribute, Section, StatusItem } from './types.js';
import { isAstringChar, isAtomChar } from './reader.js';

export interface EncodeOptions {
  /** UTF8=ACCEPT / IMAP4rev2: 8-bit UTF-8 may go in quoted strings and mailbox names stay UTF-8. */
  readonly utf8: boolean;
}


/**
 * Accumulates one response (or several): text as one growing string, turned into bytes only
 * when a byte piece (a literal, a quoted string) comes or at toBuffer(), so a FETCH line of
 * many small items costs one buffer, not one per item.
 */
export class ResponseWriter {
  private readonly parts: Buffer[] = [];
  private bytes = 0;
  /** Text not yet in `parts`. */
  private pending = '';

  constructor(readonly options: EncodeOptions = { utf8: false }) {}

  /** Protocol text known to be safe (keywords, numbers, punctuation). Asserts no CR/LF. */
  raw(text: string): this {
    assert(!/[\r\n]/.test(text), 'raw response text must not hold CR or LF');
    this.pending += text;
    return this;
  }

  private bytesRaw(bytes: Buffer): this {
    this.flushText();
    this.parts.push(bytes);
    this.bytes += bytes.length;
    return this;
  }

  private flushText(): void {
    if (this.pending.length === 0) return;
    const bytes = Buffer.from(this.pending, 'utf8');
    this.pending = '';
    this.parts.push(bytes);
    this.bytes += bytes.length;
  }

  sp(): this {
    this.pending += ' ';
    return this;
  }

  crlf(): this {
    this.pending += '\r\n';
    return this;
  }

  number(value: number | bigint): this {
    if (typeof value === 'number') assert(Number.isSafeInteger(value) && value >= 0, 'response numbers are non-negative integers');
    return this.raw(String(value));
  }

  /** Bytes another writer produced (toBuffer()), e.g. an ENVELOPE kept from an earlier FETCH. */
  encoded(bytes: Buffer): this {
    return this.bytesRaw(bytes);
  }

  /** Free human text (resp-text): CR, LF and NUL become spaces so the line cannot be broken. */
  text(text: string): this {
    this.pending += text.replace(/[\r\n\0]/g, ' ');
    return this;
  }

  /** string = quoted / literal, whichever the bytes allow. */
  string(value: string | Uint8Array): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.length);
    if (fitsQuoted(bytes, this.options.utf8)) return this.quoted(bytes);
    return this.literal(bytes);
  }

  /** A literal; literal8 (`~{N}`) when the bytes hold NUL (RFC 3516). */
  literal(bytes: Uint8Array, binary = bytes.includes(0)): this {
    this.raw(`${binary ? '~' : ''}{${bytes.length}}`).crlf();
    return this.bytesRaw(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  }

  private quoted(bytes: Buffer): this {
    let escapes = 0;
    for (const b of bytes) if (b === 0x22 || b === 0x5c) escapes++;
    const out = Buffer.allocUnsafe(bytes.length + escapes + 2);
    let o = 0;
    out[o++] = 0x22;
    for (const b of bytes) {
      if (b === 0x22 || b === 0x5c) out[o++] = 0x5c;
      out[o++] = b;
    }
    out[o++] = 0x22;
    return this.bytesRaw(out);
  }

  /** astring: a bare atom when safe, else a string. "NIL" is quoted so it cannot read as nil. */
  astring(value: string): this {
    if (isSafeAtom(value, isAstringChar)) return this.raw(value);
    return this.string(value);
  }

  nstring(value: string | Uint8Array | null): this {
    return value === null ? this.raw('NIL') : this.string(value);
  }

  /** A mailbox name: modified UTF-7 for rev1 clients, UTF-8 otherwise. */
  mailbox(name: string): this {
    return this.astring(this.options.utf8 ? name : mutf7Encode(name));
  }

  /** "(" item *(SP item) ")"; `separator` is '' for body and address lists. */
  list<T>(items: readonly T[], write: (item: T) => void, separator = ' '): this {
    this.raw('(');
    items.forEach((item, i) => {
      if (i > 0 && separator !== '') this.raw(separator);
      write(item);
    });
    return this.raw(')');
  }

  byteLength(): number {
    return this.bytes + Buffer.byteLength(this.pending, 'utf8');
  }

  toBuffer(): Buffer {
    this.flushText();
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes);
  }
}

function isSafeAtom(value: string, isChar: (c: number) => boolean): boolean {
  if (value.length === 0 || value.toUpperCase() === 'NIL') return false;
  for (let i = 0; i < value.length; i++) if (!isChar(value.charCodeAt(i))) return false;
  return true;
}

function fitsQuoted(bytes: Buffer, utf8: boolean): boolean {
  // Long values go as literals: fewer escapes to get wrong on either side, same bytes count.
  if (bytes.length > 1024) return false;
  let eightBit = false;
  for (const b of bytes) {
    if (b === 0x0d || b === 0x0a || b === 0) return false;
    if (b >= 0x80) eightBit = true;
  }
  if (!eightBit) return true;
  // 8-bit text is allowed in quoted strings only as UTF-8, and only to UTF-8 clients.
  return utf8 && Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
}

// ───────────────────────────── status responses ─────────────────────────────

export type SimpleResponseCode =
  | 'ALERT'
  | 'PARSE'
  | 'READ-ONLY'
  | 'READ-WRITE'
  | 'TRYCREATE'
  | 'TOOBIG'
  | 'AUTHENTICATIONFAILED'
  | 'AUTHORIZATIONFAILED'
  | 'EXPIRED'
  | 'PRIVACYREQUIRED'
  | 'CONTACTADMIN'
  | 'NOPERM'
  | 'INUSE'
  | 'EXPUNGEISSUED'
  | 'CORRUPTION'
  | 'SERVERBUG'
  | 'CLIENTBUG'
  | 'CANNOT'
  | 'LIMIT'
  | 'UNAVAILABLE'
  | 'NONEXISTENT'
  | 'ALREADYEXISTS'
  | 'OVERQUOTA'
  | 'HASCHILDREN'
  | 'CLOSED'
  | 'NOMODSEQ'
  | 'UIDNOTSTICKY'
  | 'UNKNOWN-CTE'
  | 'NOTSAVED'
  | 'USEATTR'
  | 'COMPRESSIONACTIVE';

export type ResponseCode =
  | { readonly code: SimpleResponseCode }
  | { readonly code: 'CAPABILITY'; readonly capabilities: readonly string[] }
  | { readonly code: 'UIDVALIDITY' | 'UIDNEXT' | 'UNSEEN'; readonly value: number }
  | { readonly code: 'HIGHESTMODSEQ'; readonly value: bigint }
  | { readonly code: 'PERMANENTFLAGS'; readonly flags: readonly string[] }
  | { readonly code: 'BADCHARSET'; readonly charsets: readonly string[] }
  | { readonly code: 'APPENDUID'; readonly uidValidity: number; readonly uids: readonly number[] }
  /** Source and destination UIDs pair up by position; both sets keep that order. */
  | { readonly code: 'COPYUID'; readonly uidValidity: number; readonly sourceUids: readonly number[]; readonly destinationUids: readonly number[] }
  | { readonly code: 'MODIFIED'; readonly numbers: readonly number[] }
  | { readonly code: 'MAILBOXID'; readonly id: string };

export type StatusCondition = 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH';

export interface StatusResponse {
  /** A command's tag, or undefined for an untagged (`*`) response. */
  readonly tag: string | undefined;
  readonly status: StatusCondition;
  readonly code?: ResponseCode;
  readonly text: string;
}

export function writeResponseCode(w: ResponseWriter, code: ResponseCode): void {
  w.raw('[').raw(code.code);
  switch (code.code) {
    case 'CAPABILITY':
      for (const capability of code.capabilities) w.sp().raw(atomOrFail(capability));
      break;
    case 'UIDVALIDITY':
    case 'UIDNEXT':
    case 'UNSEEN':
    case 'HIGHESTMODSEQ':
      w.sp().number(code.value);
      break;
    case 'PERMANENTFLAGS':
      w.sp().list(code.flags, (f) => w.raw(flagText(f)));
      break;
    case 'BADCHARSET':
      if (code.charsets.length > 0) w.sp().list(code.charsets, (c) => w.astring(c));
      break;
    case 'APPENDUID':
      w.sp().number(code.uidValidity).sp().raw(sequenceSetText(code.uids));
      break;
    case 'COPYUID':
      assert.equal(code.sourceUids.length, code.destinationUids.length, 'COPYUID pairs source and destination');
      w.sp().number(code.uidValidity);
      w.sp().raw(sequenceSetText(code.sourceUids, { keepOrder: true }));
      w.sp().raw(sequenceSetText(code.destinationUids, { keepOrder: true }));
      break;
    case 'MODIFIED':
      w.sp().raw(sequenceSetText(code.numbers));
      break;
    case 'MAILBOXID':
      w.sp().raw('(').raw(atomOrFail(code.id)).raw(')');
      break;
    default:
      break;
  }
  w.raw(']');
}

export function encodeStatus(response: StatusResponse, options?: EncodeOptions): Buffer {
  const w = new ResponseWriter(options);
  w.raw(response.tag === undefined ? '*' : tagOrFail(response.tag)).sp().raw(response.status);
  if (response.code !== undefined) {
    w.sp();
    writeResponseCode(w, response.code);
  }
  if (response.text.length > 0) w.sp().text(response.text);
  return w.crlf().toBuffer();
}

/** `+ text` for a literal, or `+ base64` for a SASL challenge (pass bytes). */
export function encodeContinuation(payload: string | Uint8Array = 'Ready'): Buffer {
  if (typeof payload === 'string') return new ResponseWriter().raw('+ ').text(payload).crlf().toBuffer();
  return new ResponseWriter().raw('+ ' + Buffer.from(payload).toString('base64')).crlf().toBuffer();
}

function tagOrFail(tag: string): string {
  assert(/^[\x21-\x7e]+$/.test(tag) && !/[(){%*"\\+]/.test(tag), 'tags come from the decoder and are valid');
  return tag;
}

function atomOrFail(atom: string): string {
  assert(atom.length > 0 && [...atom].every((c) => isAtomChar(c.charCodeAt(0))), `not an atom: ${atom}`);
  return atom;
}

function flagText(flag: string): string {
  if (flag === '\\*') return flag;
  const body = flag.startsWith('\\') ? flag.slice(1) : flag;
  atomOrFail(body);
  return flag;
}

// ───────────────────────────── sequence sets ─────────────────────────────

/**
 * Compacts numbers into `1:3,5,7:9`. By default sorted and de-duplicated; with keepOrder the
 * given order is kept (COPYUID pairs sets by position) and only ascending runs merge.
 */
export function sequenceSetText(numbers: readonly number[], options: { keepOrder?: boolean } = {}): string {
  assert(numbers.length > 0, 'a sequence set is never empty');
  const list = options.keepOrder ? numbers : [...new Set(numbers)].sort((a, b) => a - b);
  const out: string[] = [];
  let start = list[0]!;
  let previous = start;
  for (let i = 1; i <= list.length; i++) {
    const n = list[i];
    if (n !== undefined && n === previous + 1) {
      previous = n;
      continue;
    }
    out.push(start === previous ? String(start) : `${start}:${previous}`);
    if (n !== undefined) start = previous = n;
  }
  return out.join(',');
}

// ───────────────────────────── data responses ─────────────────────────────

export function encodeCapability(capabilities: readonly string[]): Buffer {
  const w = new ResponseWriter().raw('* CAPABILITY');
  for (const c of capabilities) w.sp().raw(atomOrFail(c));
  return w.crlf().toBuffer();
}

/** `* n EXISTS`, `* n EXPUNGE`, `* n RECENT`. */
export function encodeNumbered(value: number, word: 'EXISTS' | 'EXPUNGE' | 'RECENT'): Buffer {
  return new ResponseWriter().raw('* ').number(value).sp().raw(word).crlf().toBuffer();
}

export function encodeFlags(flags: readonly string[]): Buffer {
  const w = new ResponseWriter().raw('* FLAGS ');
  return w.list(flags, (f) => w.raw(flagText(f))).crlf().toBuffer();
}

export function encodeEnabled(capabilities: readonly string[]): Buffer {
  const w = new ResponseWriter().raw('* ENABLED');
  for (const c of capabilities) w.sp().raw(atomOrFail(c));
  return w.crlf().toBuffer();
}

/** Plain `* SEARCH 2 3 6` (and `(MODSEQ n)` after a MODSEQ search, RFC 7162 §3.1.5). */
export function encodeSearch(numbers: readonly number[], modseqHighest?: bigint): Buffer {
  const w = new ResponseWriter().raw('* SEARCH');
  for (const n of numbers) w.sp().number(n);
  if (modseqHighest !== undefined && numbers.length > 0) w.raw(' (MODSEQ ').number(modseqHighest).raw(')');
  return w.crlf().toBuffer();
}

export interface EsearchResult {
  readonly tag: string | undefined;
  readonly uid: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly all?: readonly number[];
  readonly count?: number;
  readonly modseq?: bigint;
}

/** `* ESEARCH (TAG "a") UID MIN 2 ALL 2:4 COUNT 3` (RFC 4731). Empty results leave MIN/MAX/ALL out. */
export function encodeEsearch(result: EsearchResult): Buffer {
  const w = new ResponseWriter().raw('* ESEARCH');
  if (result.tag !== undefined) w.raw(' (TAG ').string(result.tag).raw(')');
  if (result.uid) w.raw(' UID');
  if (result.min !== undefined) w.raw(' MIN ').number(result.min);
  if (result.max !== undefined) w.raw(' MAX ').number(result.max);
  if (result.all !== undefined && result.all.length > 0) w.raw(' ALL ').raw(sequenceSetText(result.all));
  if (result.count !== undefined) w.raw(' COUNT ').number(result.count);
  if (result.modseq !== undefined) w.raw(' MODSEQ ').number(result.modseq);
  return w.crlf().toBuffer();
}

/** `* VANISHED (EARLIER) 1:3,7` (RFC 7162 §3.2.10). */
export function encodeVanished(uids: readonly number[], earlier: boolean): Buffer {
  return new ResponseWriter()
    .raw(earlier ? '* VANISHED (EARLIER) ' : '* VANISHED ')
    .raw(sequenceSetText(uids))
    .crlf()
    .toBuffer();
}

export interface ListEntry {
  readonly attributes: readonly string[];
  /** Hierarchy delimiter, or null for a flat namespace. */
  readonly delimiter: string | null;
  readonly name: string;
  /** LIST-EXTENDED CHILDINFO (RFC 5258), e.g. ['SUBSCRIBED']. */
  readonly childInfo?: readonly string[];
  /** RFC 9051 OLDNAME after a RENAME. */
  readonly oldName?: string;
}

export function encodeList(entry: ListEntry, options: EncodeOptions, command: 'LIST' | 'LSUB' = 'LIST'): Buffer {
  const w = new ResponseWriter(options).raw(`* ${command} `);
  w.list(entry.attributes, (a) => w.raw(flagText(a)));
  w.sp();
  if (entry.delimiter === null) w.raw('NIL');
  else w.string(entry.delimiter);
  w.sp().mailbox(entry.name);
  const extended: (() => void)[] = [];
  if (entry.childInfo !== undefined && entry.childInfo.length > 0) {
    const info = entry.childInfo;
    extended.push(() => w.raw('"CHILDINFO" ').list(info, (i) => w.string(i)));
  }
  if (entry.oldName !== undefined) {
    const old = entry.oldName;
    extended.push(() => w.raw('"OLDNAME" (').mailbox(old).raw(')'));
  }
  if (extended.length > 0) w.sp().list(extended, (write) => write());
  return w.crlf().toBuffer();
}

export function encodeStatusData(
  mailbox: string,
  items: readonly (readonly [StatusItem, number | bigint | string])[],
  options: EncodeOptions,
): Buffer {
  const w = new ResponseWriter(options).raw('* STATUS ').mailbox(mailbox).sp();
  w.list(items, ([item, value]) => {
    w.raw(item).sp();
    if (item === 'MAILBOXID') w.raw('(').raw(atomOrFail(String(value))).raw(')');
    else w.number(typeof value === 'string' ? Number(value) : value);
  });
  return w.crlf().toBuffer();
}

// ───────────────────────────── ENVELOPE and BODYSTRUCTURE ─────────────────────────────

function writeAddresses(w: ResponseWriter, addresses: readonly EnvelopeAddress[] | null): void {
  if (addresses === null || addresses.length === 0) {
    w.raw('NIL');
    return;
  }
  w.list(
    addresses,
    (a) => {
      w.raw('(').nstring(a.name).sp().nstring(a.adl).sp().nstring(a.mailbox).sp().nstring(a.host).raw(')');
    },
    '',
  );
}

/** envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")" */
export function writeEnvelope(w: ResponseWriter, e: Envelope): void {
  w.raw('(').nstring(e.date).sp().nstring(e.subject).sp();
  writeAddresses(w, e.from);
  w.sp();
  writeAddresses(w, e.sender);
  w.sp();
  writeAddresses(w, e.replyTo);
  w.sp();
  writeAddresses(w, e.to);
  w.sp();
  writeAddresses(w, e.cc);
  w.sp();
  writeAddresses(w, e.bcc);
  w.sp().nstring(e.inReplyTo).sp().nstring(e.messageId).raw(')');
}

function writeParams(w: ResponseWriter, params: BodyParams): void {
  if (params === null || params.length === 0) {
    w.raw('NIL');
    return;
  }
  w.list(params, ([name, value]) => w.string(name).sp().string(value));
}

function writeExtension(w: ResponseWriter, part: BodyStructure): void {
  w.sp();
  if (part.disposition === null) w.raw('NIL');
  else {
    w.raw('(').string(part.disposition.type).sp();
    writeParams(w, part.disposition.params);
    w.raw(')');
  }
  w.sp();
  if (part.language === null || part.language.length === 0) w.raw('NIL');
  else if (part.language.length === 1) w.string(part.language[0]!);
  else w.list(part.language, (l) => w.string(l));
  w.sp().nstring(part.location);
}

/**
 * body = "(" (body-type-1part / body-type-mpart) ")". `extended` gives BODYSTRUCTURE (with
 * extension data); false gives the BODY form. Parts are joined without spaces, as the grammar says.
 */
export function writeBodyStructure(w: ResponseWriter, part: BodyStructure, extended: boolean): void {
  w.raw('(');
  if (part.kind === 'multipart') {
    assert(part.parts.length > 0, 'a multipart has at least one part');
    for (const child of part.parts) writeBodyStructure(w, child, extended);
    w.sp().string(part.subtype);
    if (extended) {
      w.sp();
      writeParams(w, part.params);
      writeExtension(w, part);
    }
    w.raw(')');
    return;
  }
  const isText = part.type.toUpperCase() === 'TEXT';
  const isMessage = part.message !== undefined;
  assert.equal(part.lines !== undefined, isText || isMessage, 'lines exactly for text and message/rfc822 parts');
  w.string(part.type).sp().string(part.subtype).sp();
  writeParams(w, part.params);
  w.sp().nstring(part.id).sp().nstring(part.description).sp().string(part.encoding).sp().number(part.sizeBytes);
  if (part.message !== undefined) {
    w.sp();
    writeEnvelope(w, part.message.envelope);
    w.sp();
    writeBodyStructure(w, part.message.body, extended);
  }
  if (part.lines !== undefined) w.sp().number(part.lines);
  if (extended) {
    w.sp().nstring(part.md5);
    writeExtension(w, part);
  }
  w.raw(')');
}

// ───────────────────────────── FETCH item names ─────────────────────────────

function sectionText(section: Section): string {
  const parts: string[] = [];
  if (section.part.length > 0) parts.push(section.part.join('.'));
  if (section.text !== undefined) parts.push(section.text);
  return parts.join('.');
}

/**
 * The name a FETCH reply uses for a requested attribute: `BODY[1.HEADER.FIELDS (From)]<0>`,
 * `BINARY[2]`, `FLAGS`. PEEK is dropped and a partial shows its origin only (RFC 9051 §7.5.2).
 */
export function writeFetchItemName(w: ResponseWriter, att: FetchAttribute): void {
  switch (att.kind) {
    case 'BODY[]':
      w.raw('BODY[').raw(sectionText(att.section));
      if (att.section.fields.length > 0) {
        w.sp().list(att.section.fields, (f) => w.astring(f));
      }
      w.raw(']');
      if (att.partial !== undefined) w.raw(`<${att.partial.offset}>`);
      return;
    case 'BINARY[]':
      w.raw(`BINARY[${att.part.join('.')}]`);
      if (att.partial !== undefined) w.raw(`<${att.partial.offset}>`);
      return;
    case 'BINARY.SIZE':
      w.raw(`BINARY.SIZE[${att.part.join('.')}]`);
      return;
    default:
      w.raw(att.kind);
  }
}
