// POP3 responses to bytes: status lines with RFC 2449/3206 response codes, multi-line
// responses with dot-stuffing (RFC 1939 §3), a streaming dot-stuffer for message bodies, CAPA.

import assert from 'node:assert/strict';

/** RFC 2449 §8 / RFC 3206 extended response codes. */
export type Pop3ResponseCode = 'AUTH' | 'SYS/TEMP' | 'SYS/PERM' | 'IN-USE' | 'LOGIN-DELAY' | 'UTF8';

const CRLF = Buffer.from('\r\n');
const terminator = Buffer.from('.\r\n');

function oneLine(text: string): string {
  return text.replace(/[\r\n\0]/g, ' ');
}

export function encodeOk(text = '', code?: Pop3ResponseCode): Buffer {
  return statusLine('+OK', text, code);
}

export function encodeErr(text: string, code?: Pop3ResponseCode): Buffer {
  return statusLine('-ERR', text, code);
}

function statusLine(status: string, text: string, code: Pop3ResponseCode | undefined): Buffer {
  let line = status;
  if (code !== undefined) line += ` [${code}]`;
  if (text.length > 0) line += ' ' + oneLine(text);
  return Buffer.from(line + '\r\n', 'utf8');
}

/** `+ base64` SASL challenge (RFC 5034); empty challenge is `+ `. */
export function encodeSaslChallenge(challenge: Uint8Array): Buffer {
  return Buffer.from('+ ' + Buffer.from(challenge).toString('base64') + '\r\n', 'latin1');
}

/** A whole multi-line response: status line, dot-stuffed lines, `.` terminator. */
export function encodeMultiline(statusText: string, lines: readonly string[]): Buffer {
  const out = [encodeOk(statusText)];
  for (const line of lines) {
    const clean = oneLine(line);
    out.push(Buffer.from((clean.startsWith('.') ? '.' : '') + clean + '\r\n', 'utf8'));
  }
  out.push(terminator);
  return Buffer.concat(out);
}

/** CAPA reply (RFC 2449 §5): one capability (with its arguments) per line. */
export function encodeCapa(capabilities: readonly string[]): Buffer {
  return encodeMultiline('Capability list follows', capabilities);
}

/**
 * Dot-stuffs a message body for RETR/TOP as it streams: every line starting with "." gets
 * another "." in front, whatever chunk boundaries fall between a line's LF and its dot.
 * end() closes the response, adding a CRLF first if the body did not end with one.
 */
export class DotStuffer {
  private atLineStart = true;
  private ended = false;

  transform(chunk: Uint8Array): Buffer {
    assert(!this.ended, 'no body after end()');
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (input.length === 0) return Buffer.alloc(0);
    const pieces: Buffer[] = [];
    let from = 0;
    let i = 0;
    if (this.atLineStart && input[0] === 0x2e) {
      pieces.push(Buffer.from('.'));
    }
    for (;;) {
      const lf = input.indexOf(0x0a, i);
      if (lf < 0 || lf + 1 >= input.length) break;
      if (input[lf + 1] === 0x2e) {
        pieces.push(input.subarray(from, lf + 1), Buffer.from('.'));
        from = lf + 1;
      }
      i = lf + 1;
    }
    pieces.push(input.subarray(from));
    this.atLineStart = input[input.length - 1] === 0x0a;
    return Buffer.concat(pieces);
  }

  end(): Buffer {
    assert(!this.ended, 'end() once');
    this.ended = true;
    return this.atLineStart ? Buffer.from(terminator) : Buffer.concat([CRLF, terminator]);
  }
}

/** Dot-stuffs a whole body at once (small messages, TOP output). */
export function dotStuff(body: Uint8Array): Buffer {
  const stuffer = new DotStuffer();
  return Buffer.concat([stuffer.transform(body), stuffer.end()]);
}
