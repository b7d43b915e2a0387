// The IMAP receive state machine: arbitrary byte chunks in, complete command units out.
//
// A command is one or more line segments; a segment ending in a literal marker is followed
// by exactly N raw bytes, then the command continues with the next segment:
//
//   tag SP name [SP args...] ["{" N ["+"] "}" | "~{" N ["+"] "}"] CRLF
//   <N bytes of literal>  args... [marker] CRLF  ...  CRLF      (end: a segment with no marker)
//
//          ┌──────────── LF, no marker: emit command ◄──────────┐
//          ▼                                                     │
//       ┌──────┐  LF + {N}  (emit "continue")  ┌─────────┐  N bytes read
//  ───► │ line │ ─────────────────────────────►│ literal │ ────────┘ (back to line)
//       └──────┘  LF + {N+} (no event)          └─────────┘
//          │ over a cap: emit error
//          ▼
//       ┌──────────┐ LF + {N+} at end ┌──────────────┐
//       │ skipLine │ ────────────────►│ skipLiteral  │──► skipLine
//       └──────────┘                  └──────────────┘
//          │ LF, no non-sync marker: back to line (the next command)
//
// Nothing here allocates more than one command's worth of bytes (commandBytesMax): lines being
// skipped keep only their last literalMarkerBytesMax bytes, literals being skipped none.
// The decoder is pull-based (push() then next() until null) so the session can change mode
// between two commands that arrived in one chunk (AUTHENTICATE, IDLE), and can drop buffered
// plaintext after STARTTLS (discardPending()).

import { defaultWireLimits, literalMarkerBytesMax, tagBytesMax, type WireLimits } from './constants.js';

/** One complete command as it came off the wire, literals inline, final CRLF removed. */
export interface CommandUnit {
  readonly tag: string;
  /** Upper-cased command name (`UID` for UID commands; the sub-command starts `args`). */
  readonly name: string;
  /** Everything after `name SP`, with literal markers, CRLFs and literal payloads in place. */
  readonly args: Uint8Array;
  readonly literalCount: number;
}

export type DecodeErrorCode =
  /** Command text (not counting literals) over lineBytesMax. Answer BAD. */
  | 'line-too-long'
  /** One literal over literalBytesMax. A sync literal was not read: answer NO [TOOBIG]. */
  | 'literal-too-big'
  | 'too-many-literals'
  /** Text plus literals over commandBytesMax. Answer NO [TOOBIG] (sync) or BAD. */
  | 'command-too-big'
  /** No usable tag: answer `* BAD`. */
  | 'bad-tag'
  /** A tag but no command name. */
  | 'missing-command';

export interface DecodeError {
  readonly code: DecodeErrorCode;
  /** The command's tag when it could be read; reply untagged otherwise. */
  readonly tag: string | undefined;
  /** The command name when it could be read. */
  readonly name: string | undefined;
  readonly text: string;
  /** For literal errors: whether the client is waiting for a continuation (sync literal). */
  readonly literalSync: boolean | undefined;
}

export type DecoderEvent =
  | { readonly kind: 'command'; readonly command: CommandUnit }
  /** A synchronizing literal was announced and accepted: send `+ ...` (or call refuseLiteral()). */
  | { readonly kind: 'continue'; readonly tag: string; readonly name: string; readonly literalBytes: number }
  /** In line mode: one CRLF-terminated line, CRLF removed (SASL responses, IDLE's DONE). */
  | { readonly kind: 'line'; readonly line: Uint8Array }
  | { readonly kind: 'error'; readonly error: DecodeError };

export type DecoderMode = 'command' | 'line';

interface LiteralMarker {
  readonly bytes: number;
  readonly sync: boolean;
  readonly binary: boolean;
  /** Length of the marker text at the segment end, e.g. 4 for `{12}`. */
  readonly markerBytes: number;
}

type State = 'line' | 'literal' | 'skipLine' | 'skipLiteral';

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;

export class ImapDecoder {
  private readonly limits: WireLimits;
  private mode: DecoderMode = 'command';
  private state: State = 'line';

  // Input not yet consumed: the head chunk is read from `pendingOffset`.
  private pending: Buffer[] = [];
  private pendingOffset = 0;

  // The command being assembled.
  private parts: Buffer[] = [];
  private segment: Buffer[] = [];
  private segmentBytes = 0;
  private textBytes = 0;
  private literalBytesTotal = 0;
  private literalCount = 0;
  private literalRemaining = 0;
  private tag: string | undefined;
  private name: string | undefined;
  private argsStart = 0;

  // Skipping: the last bytes of the line being skipped, to spot a trailing `{N+}`.
  private skipTail: Buffer = Buffer.alloc(0);

  constructor(limits: WireLimits = defaultWireLimits) {
    this.limits = limits;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }

  /** Switches between commands and raw lines. Takes effect for the next bytes read. */
  setMode(mode: DecoderMode): void {
    this.mode = mode;
  }

  getMode(): DecoderMode {
    return this.mode;
  }

  /** True when no command is partly read: the next byte starts a new command or line. */
  isIdle(): boolean {
    return this.state === 'line' && this.segmentBytes === 0 && this.parts.length === 0 && this.tag === undefined;
  }

  /** Literal bytes still expected (being read or being skipped). */
  literalBytesRemaining(): number {
    return this.state === 'literal' || this.state === 'skipLiteral' ? this.literalRemaining : 0;
  }

  /** Bytes the decoder itself holds for the command in progress (not unread input). */
  heldBytes(): number {
    let total = this.segmentBytes + this.skipTail.length;
    for (const part of this.parts) total += part.length;
    return total;
  }

  pendingBytes(): number {
    let total = 0;
    for (const chunk of this.pending) total += chunk.length;
    return total - this.pendingOffset;
  }

  /** Drops unread input, e.g. plaintext pipelined behind STARTTLS (CVE-2011-0411 class). */
  discardPending(): number {
    const dropped = this.pendingBytes();
    this.pending = [];
    this.pendingOffset = 0;
    return dropped;
  }

  /**
   * The session answered a `continue` event with a tagged NO/BAD instead of `+`: the client
   * will not send the literal, so the command is over.
   */
  refuseLiteral(): void {
    if (this.state !== 'literal') return;
    this.resetCommand();
  }

  /** Forget the partial command and any skipping; keep unread input. */
  reset(): void {
    this.resetCommand();
  }

  /** The next event, or null when more input is needed. */
  next(): DecoderEvent | null {
    while (this.pending.length > 0) {
      const event = this.step();
      if (event !== null) return event;
    }
    return null;
  }

  private resetCommand(): void {
    this.state = 'line';
    this.parts = [];
    this.segment = [];
    this.segmentBytes = 0;
    this.textBytes = 0;
    this.literalBytesTotal = 0;
    this.literalCount = 0;
    this.literalRemaining = 0;
    this.tag = undefined;
    this.name = undefined;
    this.argsStart = 0;
    this.skipTail = Buffer.alloc(0);
  }

  /** Consumes from the head chunk; returns an event or null (progress made, nothing to say). */
  private step(): DecoderEvent | null {
    const chunk = this.pending[0]!;
    const start = this.pendingOffset;
    switch (this.state) {
      case 'line':
        return this.stepLine(chunk, start);
      case 'literal': {
        const taken = Math.min(this.literalRemaining, chunk.length - start);
        this.parts.push(chunk.subarray(start, start + taken));
        this.consume(taken);
        this.literalRemaining -= taken;
        if (this.literalRemaining === 0) this.state = 'line';
        return null;
      }
      case 'skipLiteral': {
        const taken = Math.min(this.literalRemaining, chunk.length - start);
        this.consume(taken);
        this.literalRemaining -= taken;
        if (this.literalRemaining === 0) this.enterSkipLine(Buffer.alloc(0));
        return null;
      }
      case 'skipLine':
        return this.stepSkipLine(chunk, start);
    }
  }

  private consume(bytes: number): void {
    this.pendingOffset += bytes;
    if (this.pendingOffset >= this.pending[0]!.length) {
      this.pending.shift();
      this.pendingOffset = 0;
    }
  }

  private stepLine(chunk: Buffer, start: number): DecoderEvent | null {
    const lf = chunk.indexOf(LF, start);
    const end = lf < 0 ? chunk.length : lf + 1;
    const pieceBytes = end - start;
    if (this.textBytes + this.segmentBytes + pieceBytes > this.limits.lineBytesMax) {
      // Keep the head of the first segment for the tag; the rest is skipped without storing.
      const error = this.makeError('line-too-long', `Command line over ${this.limits.lineBytesMax} bytes`, undefined, chunk.subarray(start, end));
      const tail = tailOf([...this.segment, chunk.subarray(start, end)], literalMarkerBytesMax + 2);
      this.consume(pieceBytes);
      this.resetCommand();
      // If the overlong line ended in this chunk its marker (if any) decides what follows.
      if (lf < 0) this.enterSkipLine(tail);
      else this.afterSkippedLine(tail);
      return { kind: 'error', error };
    }
    this.segment.push(chunk.subarray(start, end));
    this.segmentBytes += pieceBytes;
    this.consume(pieceBytes);
    if (lf < 0) return null;
    return this.finishSegment();
  }

  private finishSegment(): DecoderEvent | null {
    const segment = this.segment.length === 1 ? this.segment[0]! : Buffer.concat(this.segment);
    this.segment = [];
    this.segmentBytes = 0;
    const contentEnd = segment.length >= 2 && segment[segment.length - 2] === CR ? segment.length - 2 : segment.length - 1;

    if (this.mode === 'line' && this.parts.length === 0) {
      return { kind: 'line', line: segment.subarray(0, contentEnd) };
    }

    const first = this.parts.length === 0;
    if (first && contentEnd === 0) return null; // an empty line between commands: ignore it
    this.textBytes += segment.length;
    const marker = findLiteralMarker(segment.subarray(0, contentEnd));

    if (first) {
      const head = readTagAndName(segment.subarray(0, contentEnd));
      this.tag = head.tag;
      this.name = head.name;
      if (head.tag === undefined) return this.failAtSegmentEnd('bad-tag', 'Missing or invalid tag', marker);
      if (head.name === undefined) return this.failAtSegmentEnd('missing-command', 'Missing command name', marker);
      this.argsStart = head.argsStart;
    }
    this.parts.push(segment);

    if (marker === undefined) {
      if (this.textBytes + this.literalBytesTotal > this.limits.commandBytesMax) {
        return this.failAtSegmentEnd('command-too-big', `Command over ${this.limits.commandBytesMax} bytes`, undefined);
      }
      return this.emitCommand(contentEnd);
    }
    if (this.literalCount + 1 > this.limits.literalsPerCommandMax) {
      return this.failAtSegmentEnd('too-many-literals', `More than ${this.limits.literalsPerCommandMax} literals`, marker);
    }
    if (marker.bytes > this.limits.literalBytesMax) {
      return this.failAtSegmentEnd('literal-too-big', `Literal over ${this.limits.literalBytesMax} bytes`, marker);
    }
    if (this.textBytes + this.literalBytesTotal + marker.bytes > this.limits.commandBytesMax) {
      return this.failAtSegmentEnd('command-too-big', `Command over ${this.limits.commandBytesMax} bytes`, marker);
    }
    this.literalCount++;
    this.literalBytesTotal += marker.bytes;
    this.literalRemaining = marker.bytes;
    this.state = marker.bytes > 0 ? 'literal' : 'line';
    if (!marker.sync) return null;
    return { kind: 'continue', tag: this.tag!, name: this.name!, literalBytes: marker.bytes };
  }

  private emitCommand(lastContentEnd: number): DecoderEvent {
    // Drop the final CRLF; keep inner CRLFs, they end literal markers the parser reads again.
    const last = this.parts.length - 1;
    this.parts[last] = this.parts[last]!.subarray(0, lastContentEnd);
    const whole = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    const command: CommandUnit = {
      tag: this.tag!,
      name: this.name!,
      args: whole.subarray(Math.min(this.argsStart, whole.length)),
      literalCount: this.literalCount,
    };
    this.resetCommand();
    return { kind: 'command', command };
  }

  /** An error found at a segment end: resynchronise according to the marker the segment ended with. */
  private failAtSegmentEnd(code: DecodeErrorCode, text: string, marker: LiteralMarker | undefined): DecoderEvent {
    const error = this.makeError(code, text, marker);
    this.resetCommand();
    if (marker !== undefined && !marker.sync && marker.bytes > 0) {
      // The client sends a non-sync literal regardless of what we say: read past it unread.
      this.state = 'skipLiteral';
      this.literalRemaining = Math.min(marker.bytes, Number.MAX_SAFE_INTEGER);
    } else if (marker !== undefined && !marker.sync) {
      this.enterSkipLine(Buffer.alloc(0));
    }
    // A sync literal is never sent without our `+`, and no marker means the line is over:
    // either way the next byte starts a new command.
    return { kind: 'error', error };
  }

  private makeError(code: DecodeErrorCode, text: string, marker: LiteralMarker | undefined, piece?: Buffer): DecodeError {
    let tag = this.tag;
    let name = this.name;
    if (tag === undefined && this.parts.length === 0 && (this.segment.length > 0 || piece !== undefined)) {
      // Only the head matters: a tag, a space, a name.
      const head = readTagAndName(headOf([...this.segment, ...(piece ? [piece] : [])], tagBytesMax + 64));
      tag = head.tag;
      name = head.name;
    }
    return { code, tag, name, text, literalSync: marker === undefined ? undefined : marker.sync };
  }

  private enterSkipLine(seenSoFar: Buffer): void {
    this.state = 'skipLine';
    this.skipTail = Buffer.from(seenSoFar.subarray(Math.max(0, seenSoFar.length - literalMarkerBytesMax - 2)));
  }

  private stepSkipLine(chunk: Buffer, start: number): DecoderEvent | null {
    const lf = chunk.indexOf(LF, start);
    const end = lf < 0 ? chunk.length : lf + 1;
    const piece = chunk.subarray(start, end);
    this.consume(end - start);
    const keep = literalMarkerBytesMax + 2;
    const joined = Buffer.concat([this.skipTail, piece]);
    const tail = Buffer.from(joined.subarray(Math.max(0, joined.length - keep)));
    if (lf < 0) {
      this.skipTail = tail;
      return null;
    }
    this.afterSkippedLine(tail);
    return null;
  }

  /** `tail` ends with the LF of a skipped line. A trailing non-sync literal is skipped too. */
  private afterSkippedLine(tail: Buffer): void {
    let contentEnd = tail.length - 1;
    if (contentEnd > 0 && tail[contentEnd - 1] === CR) contentEnd--;
    const marker = findLiteralMarker(tail.subarray(0, contentEnd));
    this.resetCommand();
    if (marker !== undefined && !marker.sync) {
      if (marker.bytes > 0) {
        this.state = 'skipLiteral';
        this.literalRemaining = Math.min(marker.bytes, Number.MAX_SAFE_INTEGER);
      } else {
        this.enterSkipLine(Buffer.alloc(0));
      }
    }
  }
}

/** The first `keep` bytes of a list of buffers. */
function headOf(buffers: readonly Buffer[], keep: number): Buffer {
  const picked: Buffer[] = [];
  let have = 0;
  for (const b of buffers) {
    if (have >= keep) break;
    const take = Math.min(b.length, keep - have);
    picked.push(b.subarray(0, take));
    have += take;
  }
  return Buffer.concat(picked);
}

/** The last `keep` bytes of a list of buffers, copied. */
function tailOf(buffers: readonly Buffer[], keep: number): Buffer {
  const picked: Buffer[] = [];
  let have = 0;
  for (let i = buffers.length - 1; i >= 0 && have < keep; i--) {
    const b = buffers[i]!;
    const take = Math.min(b.length, keep - have);
    picked.unshift(b.subarray(b.length - take));
    have += take;
  }
  return Buffer.concat(picked);
}

/** A literal marker at the very end of a segment (CRLF already removed), if there is one. */
export function findLiteralMarker(text: Uint8Array): LiteralMarker | undefined {
  const n = text.length;
  if (n < 3 || text[n - 1] !== 0x7d /* } */) return undefined;
  let i = n - 2;
  let sync = true;
  if (text[i] === 0x2b /* + */) {
    sync = false;
    i--;
  }
  const digitsEnd = i + 1;
  while (i >= 0 && text[i]! >= 0x30 && text[i]! <= 0x39) i--;
  const digitCount = digitsEnd - (i + 1);
  if (digitCount === 0 || digitCount > 20 || i < 0 || text[i] !== 0x7b /* { */) return undefined;
  let bytes = 0;
  for (let d = i + 1; d < digitsEnd; d++) bytes = bytes * 10 + (text[d]! - 0x30);
  const binary = i > 0 && text[i - 1] === 0x7e; /* ~ */
  const markerBytes = n - i + (binary ? 1 : 0);
  return { bytes, sync, binary, markerBytes };
}

/** RFC 9051: tag = 1*<any ASTRING-CHAR except "+">. */
export function isTagChar(c: number): boolean {
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case 0x28: // (
    case 0x29: // )
    case 0x7b: // {
    case 0x25: // %
    case 0x2a: // *
    case 0x22: // "
    case 0x5c: // \
    case 0x2b: // +
      return false;
    default:
      return true;
  }
}

function isAtomChar(c: number): boolean {
  return isTagChar(c) && c !== 0x5d /* ] */ || c === 0x2b;
}

function readTagAndName(line: Uint8Array): { tag: string | undefined; name: string | undefined; argsStart: number } {
  let i = 0;
  while (i < line.length && isTagChar(line[i]!)) i++;
  if (i === 0 || i > tagBytesMax || (i < line.length && line[i] !== SP)) {
    return { tag: undefined, name: undefined, argsStart: 0 };
  }
  const tag = Buffer.from(line.subarray(0, i)).toString('latin1');
  if (i === line.length) return { tag, name: undefined, argsStart: 0 };
  const nameStart = i + 1;
  let j = nameStart;
  while (j < line.length && isAtomChar(line[j]!)) j++;
  if (j === nameStart || (j < line.length && line[j] !== SP)) return { tag, name: undefined, argsStart: 0 };
  const name = Buffer.from(line.subarray(nameStart, j)).toString('latin1').toUpperCase();
  return { tag, name, argsStart: j < line.length ? j + 1 : j };
}
