// POP3 receive side: chunks in, CRLF-terminated lines out, each bounded by a cap. A line over
// the cap yields one error and is skipped to its LF, then decoding goes on: memory is bounded
// by the cap whatever the input. Pull-based like the IMAP decoder, so the session can switch
// to SASL line mode between two lines of one chunk and drop plaintext after STLS.

import { commandBytesMax } from './constants.js';

export type Pop3DecoderEvent =
  | { readonly kind: 'line'; readonly line: Uint8Array }
  | { readonly kind: 'error'; readonly code: 'line-too-long'; readonly text: string };

const LF = 0x0a;
const CR = 0x0d;

export class Pop3Decoder {
  private pending: Buffer[] = [];
  private pendingOffset = 0;
  private line: Buffer[] = [];
  private lineBytes = 0;
  private skipping = false;

  /** `lineBytesMax` counts the CRLF; switch it with setLineBytesMax() for SASL responses. */
  constructor(private lineBytesMax: number = commandBytesMax) {}

  setLineBytesMax(bytes: number): void {
    this.lineBytesMax = bytes;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length > 0) this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }

  discardPending(): number {
    let dropped = -this.pendingOffset;
    for (const chunk of this.pending) dropped += chunk.length;
    this.pending = [];
    this.pendingOffset = 0;
    return dropped;
  }

  /** Bytes held for the line in progress (never more than the cap). */
  heldBytes(): number {
    return this.lineBytes;
  }

  isIdle(): boolean {
    return this.lineBytes === 0 && !this.skipping;
  }

  next(): Pop3DecoderEvent | null {
    while (this.pending.length > 0) {
      const chunk = this.pending[0]!;
      const start = this.pendingOffset;
      const lf = chunk.indexOf(LF, start);
      const end = lf < 0 ? chunk.length : lf + 1;
      this.pendingOffset = end;
      if (end >= chunk.length) {
        this.pending.shift();
        this.pendingOffset = 0;
      }
      if (this.skipping) {
        if (lf >= 0) this.skipping = false;
        continue;
      }
      if (this.lineBytes + (end - start) > this.lineBytesMax) {
        this.line = [];
        this.lineBytes = 0;
        this.skipping = lf < 0;
        return { kind: 'error', code: 'line-too-long', text: `Line over ${this.lineBytesMax} octets` };
      }
      this.line.push(chunk.subarray(start, end));
      this.lineBytes += end - start;
      if (lf < 0) continue;
      const whole = this.line.length === 1 ? this.line[0]! : Buffer.concat(this.line);
      this.line = [];
      this.lineBytes = 0;
      const contentEnd = whole.length >= 2 && whole[whole.length - 2] === CR ? whole.length - 2 : whole.length - 1;
      return { kind: 'line', line: whole.subarray(0, contentEnd) };
    }
    return null;
  }
}
