// The lexer under every command grammar: reads RFC 9051 §9 tokens from one command's argument
// bytes (literals inline, as the decoder left them). A grammar violation throws ParseFail, which
// parser.ts turns into a typed BAD; nothing else is thrown on bad input.

import { numberMax, modseqMax, type WireLimits } from './constants.js';
import { mutf7Decode } from './mutf7.js';
import type { ImapDate, ImapDateTime, SeqBound, SeqRange, SequenceSet } from './types.js';

export type ParseErrorCode =
  /** Grammar violation. */
  | 'syntax'
  /** Command name not known. */
  | 'unknown-command'
  /** Nesting over parseDepthMax. */
  | 'too-deep'
  /** A number outside its range (0, over 2^32-1, modseq over 2^63-1). */
  | 'number-range'
  /** A mailbox name that is not valid modified UTF-7 / UTF-8. */
  | 'mailbox-name';

export class ParseFail {
  constructor(
    readonly code: ParseErrorCode,
    readonly text: string,
  ) {}
}

export interface ParseOptions {
  /** UTF8=ACCEPT enabled (or IMAP4rev2 selected): mailbox names are UTF-8, not modified UTF-7. */
  readonly utf8Mailboxes: boolean;
  readonly limits: WireLimits;
}

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LPAREN = 0x28;
const RPAREN = 0x29;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const TILDE = 0x7e;

const systemFlags = new Map(['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft', '\\Recent'].map((f) => [f.toLowerCase(), f]));

const months = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** ATOM-CHAR: any CHAR except atom-specials `( ) { SP CTL % * " \ ]`. */
export function isAtomChar(c: number): boolean {
  if (c <= 0x20 || c >= 0x7f) return false;
  return !(c === LPAREN || c === RPAREN || c === LBRACE || c === 0x25 || c === 0x2a || c === DQUOTE || c === BACKSLASH || c === 0x5d);
}

/** ASTRING-CHAR: ATOM-CHAR or `]`. */
export function isAstringChar(c: number): boolean {
  return isAtomChar(c) || c === 0x5d;
}

/** list-char: ATOM-CHAR, list-wildcards `% *`, resp-specials `]`. */
function isListChar(c: number): boolean {
  return isAstringChar(c) || c === 0x25 || c === 0x2a;
}

export class Reader {
  pos = 0;
  private depth = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly options: ParseOptions,
  ) {}

  fail(text: string, code: ParseErrorCode = 'syntax'): never {
    throw new ParseFail(code, text);
  }

  atEnd(): boolean {
    return this.pos >= this.bytes.length;
  }

  peek(offset = 0): number {
    const i = this.pos + offset;
    return i < this.bytes.length ? this.bytes[i]! : -1;
  }

  expectEnd(): void {
    if (!this.atEnd()) this.fail(`Unexpected text at byte ${this.pos}`);
  }

  sp(): void {
    if (this.peek() !== SP) this.fail(this.atEnd() ? 'Missing argument' : `Expected space at byte ${this.pos}`);
    this.pos++;
  }

  trySp(): boolean {
    if (this.peek() !== SP) return false;
    this.pos++;
    return true;
  }

  expect(c: number): void {
    if (this.peek() !== c) this.fail(`Expected "${String.fromCharCode(c)}" at byte ${this.pos}`);
    this.pos++;
  }

  tryByte(c: number): boolean {
    if (this.peek() !== c) return false;
    this.pos++;
    return true;
  }

  /** Counts one level of nesting; callers pair it with leave(). */
  enter(): void {
    this.depth++;
    if (this.depth > this.options.limits.parseDepthMax) this.fail(`Nesting deeper than ${this.options.limits.parseDepthMax}`, 'too-deep');
  }

  leave(): void {
    this.depth--;
  }

  private span(test: (c: number) => boolean): string {
    const start = this.pos;
    while (this.pos < this.bytes.length && test(this.bytes[this.pos]!)) this.pos++;
    return latin1(this.bytes, start, this.pos);
  }

  atom(): string {
    const atom = this.span(isAtomChar);
    if (atom.length === 0) this.fail(`Expected atom at byte ${this.pos}`);
    return atom;
  }

  /** Reads an atom if one is here, upper-cased; does not consume when `expected` does not match. */
  peekAtomUpper(): string {
    const start = this.pos;
    const atom = this.span(isAtomChar);
    this.pos = start;
    return atom.toUpperCase();
  }

  /** Consumes `word` (case-insensitive) when the next atom is exactly it. */
  tryWord(word: string): boolean {
    if (this.peekAtomUpper() !== word) return false;
    this.pos += word.length;
    return true;
  }

  word(word: string): void {
    if (!this.tryWord(word)) this.fail(`Expected ${word} at byte ${this.pos}`);
  }

  /** number: 32-bit unsigned (RFC 9051 §9 `number`). */
  number(): number {
    const start = this.pos;
    while (this.peek() >= 0x30 && this.peek() <= 0x39) this.pos++;
    const digits = this.pos - start;
    if (digits === 0) this.fail(`Expected number at byte ${start}`);
    if (digits > 10) this.fail('Number too large', 'number-range');
    const value = Number(latin1(this.bytes, start, this.pos));
    if (value > numberMax) this.fail('Number too large', 'number-range');
    return value;
  }

  nzNumber(): number {
    const value = this.number();
    if (value === 0) this.fail('Zero is not allowed here', 'number-range');
    return value;
  }

  /** number64 / mod-sequence-value (63-bit). */
  number64(): bigint {
    const start = this.pos;
    while (this.peek() >= 0x30 && this.peek() <= 0x39) this.pos++;
    const digits = this.pos - start;
    if (digits === 0) this.fail(`Expected number at byte ${start}`);
    if (digits > 19) this.fail('Number too large', 'number-range');
    const value = BigInt(latin1(this.bytes, start, this.pos));
    if (value > modseqMax) this.fail('Number too large', 'number-range');
    return value;
  }

  quotedBytes(): Uint8Array {
    this.expect(DQUOTE);
    const out: number[] = [];
    for (;;) {
      const c = this.peek();
      if (c < 0 || c === CR || c === LF) this.fail('Unterminated quoted string');
      this.pos++;
      if (c === DQUOTE) break;
      if (c === BACKSLASH) {
        const escaped = this.peek();
        if (escaped !== DQUOTE && escaped !== BACKSLASH) this.fail('Bad escape in quoted string');
        this.pos++;
        out.push(escaped);
        continue;
      }
      if (c === 0) this.fail('NUL in quoted string');
      out.push(c);
    }
    return Uint8Array.from(out);
  }

  /** A literal `{N}` / `{N+}` (or with allowBinary also `~{N}`) followed by CRLF and N bytes. */
  literal(allowBinary: boolean): { data: Uint8Array; binary: boolean } {
    const binary = this.tryByte(TILDE);
    if (binary && !allowBinary) this.fail('literal8 not allowed here');
    this.expect(LBRACE);
    const start = this.pos;
    while (this.peek() >= 0x30 && this.peek() <= 0x39) this.pos++;
    if (this.pos === start || this.pos - start > 20) this.fail('Bad literal length');
    const count = Number(latin1(this.bytes, start, this.pos));
    this.tryByte(0x2b); // LITERAL+ marker; the decoder already handled the flow control
    this.expect(RBRACE);
    this.expect(CR);
    this.expect(LF);
    if (count > this.bytes.length - this.pos) this.fail('Literal longer than the command');
    const data = this.bytes.subarray(this.pos, this.pos + count);
    this.pos += count;
    return { data, binary };
  }

  /** string = quoted / literal. */
  stringBytes(): Uint8Array {
    const c = this.peek();
    if (c === DQUOTE) return this.quotedBytes();
    if (c === LBRACE) return this.literal(false).data;
    return this.fail(`Expected string at byte ${this.pos}`);
  }

  string(): string {
    return utf8(this.stringBytes());
  }

  /** astring = 1*ASTRING-CHAR / string. */
  astring(): string {
    const c = this.peek();
    if (c === DQUOTE || c === LBRACE) return this.string();
    const atom = this.span(isAstringChar);
    if (atom.length === 0) this.fail(`Expected astring at byte ${this.pos}`);
    return atom;
  }

  /** nstring = string / NIL. */
  nstring(): string | null {
    if (this.tryWord('NIL')) return null;
    return this.string();
  }

  /** mailbox = "INBOX" / astring, decoded from modified UTF-7 unless UTF-8 names are on. */
  mailbox(): string {
    return this.decodeMailboxName(this.astring());
  }

  /** list-mailbox = 1*list-char / string. */
  listMailbox(): string {
    const c = this.peek();
    const raw = c === DQUOTE || c === LBRACE ? this.string() : this.span(isListChar);
    if (raw.length === 0 && c !== DQUOTE && c !== LBRACE) this.fail(`Expected mailbox pattern at byte ${this.pos}`);
    return this.decodeMailboxName(raw, false);
  }

  decodeMailboxName(raw: string, normaliseInbox = true): string {
    let name = raw;
    if (!this.options.utf8Mailboxes) {
      const decoded = mutf7Decode(raw);
      if (decoded === undefined) this.fail('Mailbox name is not valid modified UTF-7', 'mailbox-name');
      name = decoded;
    } else if (raw.includes('\uFFFD')) {
      this.fail('Mailbox name is not valid UTF-8', 'mailbox-name');
    }
    // RFC 9051 §5.1: INBOX is case-insensitive.
    if (normaliseInbox && name.toUpperCase() === 'INBOX') return 'INBOX';
    return name;
  }

  /** flag = "\" atom / atom (flag-keyword). */
  flag(): string {
    if (!this.tryByte(BACKSLASH)) return this.atom();
    // System flags are case-insensitive; give them one spelling so storage compares strings.
    const name = '\\' + this.atom();
    return systemFlags.get(name.toLowerCase()) ?? name;
  }

  /** flag-list = "(" [flag *(SP flag)] ")". */
  flagList(): string[] {
    this.expect(LPAREN);
    const flags: string[] = [];
    if (this.tryByte(RPAREN)) return flags;
    for (;;) {
      flags.push(this.flag());
      if (this.tryByte(RPAREN)) return flags;
      this.sp();
    }
  }

  /** Flags with or without parentheses (STORE allows both). */
  flags(): string[] {
    if (this.peek() === LPAREN) return this.flagList();
    const flags = [this.flag()];
    while (this.peek() === SP && (this.peek(1) === BACKSLASH || isAtomChar(this.peek(1)))) {
      this.pos++;
      flags.push(this.flag());
    }
    return flags;
  }

  /** sequence-set, or `$` (RFC 5182). */
  sequenceSet(): SequenceSet {
    if (this.tryByte(0x24)) return { kind: 'saved' };
    const ranges: SeqRange[] = [];
    for (;;) {
      const start = this.seqNumber();
      const end = this.tryByte(0x3a) ? this.seqNumber() : start;
      ranges.push({ start, end });
      if (!this.tryByte(0x2c)) return { kind: 'ranges', ranges };
    }
  }

  private seqNumber(): SeqBound {
    if (this.tryByte(0x2a)) return '*';
    return this.nzNumber();
  }

  /** date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-" date-year. */
  date(): ImapDate {
    const quoted = this.tryByte(DQUOTE);
    const dayStart = this.pos;
    const day = this.number();
    if (this.pos - dayStart > 2) this.fail('Bad day');
    this.expect(0x2d);
    const month = this.month();
    this.expect(0x2d);
    const year = this.fixedDigits(4);
    if (quoted) this.expect(DQUOTE);
    checkDay(this, year, month, day);
    return { year, month, day };
  }

  /** date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE. */
  dateTime(): ImapDateTime {
    this.expect(DQUOTE);
    let day: number;
    if (this.tryByte(SP)) day = this.fixedDigits(1);
    else {
      const dayStart = this.pos;
      day = this.number();
      if (this.pos - dayStart > 2) this.fail('Bad day');
    }
    this.expect(0x2d);
    const month = this.month();
    this.expect(0x2d);
    const year = this.fixedDigits(4);
    this.sp();
    const hour = this.fixedDigits(2);
    this.expect(0x3a);
    const minute = this.fixedDigits(2);
    this.expect(0x3a);
    const second = this.fixedDigits(2);
    this.sp();
    const sign = this.peek();
    if (sign !== 0x2b && sign !== 0x2d) this.fail('Bad time zone');
    this.pos++;
    const zone = this.fixedDigits(4);
    this.expect(DQUOTE);
    checkDay(this, year, month, day);
    if (hour > 23 || minute > 59 || second > 60) this.fail('Bad time');
    const zoneHours = Math.floor(zone / 100);
    const zoneMins = zone % 100;
    if (zoneMins > 59) this.fail('Bad time zone');
    const zoneMinutes = (sign === 0x2d ? -1 : 1) * (zoneHours * 60 + zoneMins);
    const epochMs = Date.UTC(year, month - 1, day, hour, minute, second) - zoneMinutes * 60_000;
    return { epochMs, zoneMinutes };
  }

  private month(): number {
    const text = latin1(this.bytes, this.pos, this.pos + 3).toUpperCase();
    const index = months.indexOf(text);
    if (index < 0) this.fail('Bad month');
    this.pos += 3;
    return index + 1;
  }

  private fixedDigits(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) {
      const c = this.peek();
      if (c < 0x30 || c > 0x39) this.fail(`Expected digit at byte ${this.pos}`);
      value = value * 10 + (c - 0x30);
      this.pos++;
    }
    return value;
  }

  /** Reads a parenthesised, space-separated list; `item` reads one element. */
  list<T>(item: () => T, allowEmpty: boolean): T[] {
    this.expect(LPAREN);
    const items: T[] = [];
    if (this.tryByte(RPAREN)) {
      if (!allowEmpty) this.fail('Empty list');
      return items;
    }
    for (;;) {
      items.push(item());
      if (this.tryByte(RPAREN)) return items;
      this.sp();
    }
  }
}

function checkDay(reader: Reader, year: number, month: number, day: number): void {
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) reader.fail('Bad day of month');
}

export function latin1(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, Math.max(0, Math.min(end, bytes.length) - start)).toString('latin1');
}

export function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
}
