// POP3 command lines to typed commands (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).
//
//   command = keyword *(SP argument) CRLF      ; keyword 3-4 chars, case-insensitive
//   USER name | PASS string (rest of line, may hold spaces) | APOP name digest |
//   STAT | LIST [msg] | RETR msg | DELE msg | NOOP | RSET | QUIT | TOP msg n | UIDL [msg] |
//   CAPA | STLS | AUTH [mechanism [initial-response]]
//
// A bad line is a typed error (answer -ERR and carry on); never an exception.

import { argumentBytesMax, messageNumberMax } from './constants.js';

export type Pop3Command =
  | { readonly kind: 'USER'; readonly name: string }
  | { readonly kind: 'PASS'; readonly password: string }
  | { readonly kind: 'APOP'; readonly name: string; readonly digest: string }
  | { readonly kind: 'STAT' | 'NOOP' | 'RSET' | 'QUIT' | 'CAPA' | 'STLS' }
  | { readonly kind: 'LIST' | 'UIDL'; readonly message: number | undefined }
  | { readonly kind: 'RETR' | 'DELE'; readonly message: number }
  | { readonly kind: 'TOP'; readonly message: number; readonly lines: number }
  /** No mechanism: list mechanisms (RFC 1734 style). initialResponse: decoded; empty for `=`. */
  | { readonly kind: 'AUTH'; readonly mechanism: string | undefined; readonly initialResponse: Uint8Array | undefined };

export type Pop3ParseErrorCode = 'unknown-command' | 'syntax' | 'number-range' | 'argument-too-long';

export type Pop3ParseResult =
  | { readonly ok: true; readonly command: Pop3Command }
  | { readonly ok: false; readonly code: Pop3ParseErrorCode; readonly text: string };

function fail(code: Pop3ParseErrorCode, text: string): Pop3ParseResult {
  return { ok: false, code, text };
}

function messageNumber(arg: string | undefined, allowZero = false): number | undefined {
  if (arg === undefined || !/^[0-9]{1,10}$/.test(arg)) return undefined;
  const n = Number(arg);
  if (n > messageNumberMax || (n === 0 && !allowZero)) return undefined;
  return n;
}

export function parsePop3Command(line: Uint8Array): Pop3ParseResult {
  const text = Buffer.from(line.buffer, line.byteOffset, line.length).toString('utf8');
  if (/[\0\r\n]/.test(text)) return fail('syntax', 'Control characters in command');
  const space = text.indexOf(' ');
  const keyword = (space < 0 ? text : text.slice(0, space)).toUpperCase();
  const rest = space < 0 ? undefined : text.slice(space + 1);
  // PASS takes the rest of the line verbatim: RFC 1939 allows spaces in passwords.
  if (keyword === 'PASS') {
    if (rest === undefined || rest.length === 0) return fail('syntax', 'PASS needs a password');
    return { ok: true, command: { kind: 'PASS', password: rest } };
  }
  const args = rest === undefined ? [] : rest.split(' ');
  if (args.some((a) => a.length === 0)) return fail('syntax', 'Empty argument');
  const tooLong = keyword === 'AUTH' ? args.slice(0, 1) : args;
  if (tooLong.some((a) => Buffer.byteLength(a) > argumentBytesMax)) return fail('argument-too-long', `Argument over ${argumentBytesMax} octets`);
  const count = (min: number, max: number): boolean => args.length >= min && args.length <= max;

  switch (keyword) {
    case 'STAT':
    case 'NOOP':
    case 'RSET':
    case 'QUIT':
    case 'CAPA':
    case 'STLS':
      if (!count(0, 0)) return fail('syntax', `${keyword} takes no arguments`);
      return { ok: true, command: { kind: keyword } };
    case 'USER':
      if (!count(1, 1)) return fail('syntax', 'USER needs one name');
      return { ok: true, command: { kind: 'USER', name: args[0]! } };
    case 'APOP':
      if (!count(2, 2) || !/^[0-9a-fA-F]{32}$/.test(args[1]!)) return fail('syntax', 'APOP needs a name and an MD5 digest');
      return { ok: true, command: { kind: 'APOP', name: args[0]!, digest: args[1]!.toLowerCase() } };
    case 'LIST':
    case 'UIDL': {
      if (!count(0, 1)) return fail('syntax', `${keyword} takes at most one message number`);
      if (args.length === 0) return { ok: true, command: { kind: keyword, message: undefined } };
      const message = messageNumber(args[0]);
      if (message === undefined) return fail('number-range', 'Bad message number');
      return { ok: true, command: { kind: keyword, message } };
    }
    case 'RETR':
    case 'DELE': {
      if (!count(1, 1)) return fail('syntax', `${keyword} needs a message number`);
      const message = messageNumber(args[0]);
      if (message === undefined) return fail('number-range', 'Bad message number');
      return { ok: true, command: { kind: keyword, message } };
    }
    case 'TOP': {
      if (!count(2, 2)) return fail('syntax', 'TOP needs a message number and a line count');
      const message = messageNumber(args[0]);
      const lines = messageNumber(args[1], true);
      if (message === undefined || lines === undefined) return fail('number-range', 'Bad number');
      return { ok: true, command: { kind: 'TOP', message, lines } };
    }
    case 'AUTH': {
      if (!count(0, 2)) return fail('syntax', 'AUTH takes a mechanism and an optional initial response');
      if (args.length === 0) return { ok: true, command: { kind: 'AUTH', mechanism: undefined, initialResponse: undefined } };
      const mechanism = args[0]!.toUpperCase();
      if (!/^[A-Z0-9_-]{1,20}$/.test(mechanism)) return fail('syntax', 'Bad SASL mechanism name');
      if (args.length === 1) return { ok: true, command: { kind: 'AUTH', mechanism, initialResponse: undefined } };
      const initialResponse = decodeSaslResponse(args[1]!);
      if (initialResponse === undefined || initialResponse === 'cancel') return fail('syntax', 'Bad initial response');
      return { ok: true, command: { kind: 'AUTH', mechanism, initialResponse } };
    }
    default:
      return fail('unknown-command', 'Unknown command');
  }
}

/**
 * One SASL client response line (RFC 5034 §4): base64, `=` for empty, `*` to cancel.
 * undefined when it is not valid base64.
 */
export function decodeSaslResponse(text: string | Uint8Array): Uint8Array | 'cancel' | undefined {
  const s = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.length).toString('latin1');
  if (s === '*') return 'cancel';
  if (s === '=') return new Uint8Array(0);
  if (s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64');
  if (bytes.toString('base64') !== s) return undefined;
  return new Uint8Array(bytes);
}
