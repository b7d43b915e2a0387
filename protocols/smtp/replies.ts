// SMTP replies with our own enhanced status codes. smtp-server derives the enhanced code of an
// error reply from its three-digit code alone (451 is always 4.3.0), which cannot say 451 4.4.3
// (directory down) or 553 5.7.1 (sender not yours). A reply built here carries its enhanced
// code at the front of the text; the patch below lets such a text through unchanged and keeps
// the library from adding a second code. Texts without a leading code are untouched, so other
// users of smtp-server in the same process (a test smarthost) behave as before.
//
// The same patch drops AUTH from an EHLO reply sent before TLS: smtp-server would refuse AUTH
// there anyway (538, unless allowInsecureAuth), and offering it invites clients to send a
// password in the clear (RFC 3207 sec. 4.2 lets a server offer different extensions after TLS).

import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { type Failure, smtpAnswer } from '../../engine/errors.js';

const enhancedAtFront = /^([245]\.\d{1,3}\.\d{1,3}) ([\s\S]*)$/;

interface Patchable {
  send(code: number, data: unknown, context?: unknown): void;
  _useEnhancedStatusCodes(): boolean;
  readonly secure: boolean;
  readonly _server: { readonly options: { readonly allowInsecureAuth?: boolean } };
}

const proto = SMTPConnection.prototype as unknown as Patchable & { __quireReplies?: true };
if (proto.__quireReplies !== true) {
  const original = proto.send;
  proto.send = function (this: Patchable, code: number, data: unknown, context?: unknown): void {
    if (Array.isArray(data) && code === 250 && !this.secure && this._server.options.allowInsecureAuth !== true) {
      return original.call(this, code, data.filter((line: unknown) => !(typeof line === 'string' && line.startsWith('AUTH '))), context);
    }
    const match = typeof data === 'string' ? enhancedAtFront.exec(data) : null;
    if (match === null) return original.call(this, code, data, context);
    // Our text carries its code: print it when ENHANCEDSTATUSCODES is on, drop it otherwise.
    return original.call(this, code, this._useEnhancedStatusCodes() ? data : match[2], false);
  };
  proto.__quireReplies = true;
}

/** An error for an smtp-server callback: `reply(550, '5.1.1', 'No such user')`. */
export function reply(code: number, enhanced: string, text: string): Error & { responseCode: number } {
  const error = new Error(`${enhanced} ${text}`) as Error & { responseCode: number };
  error.responseCode = code;
  return error;
}

/** The catalogue's answer to a failure, as an smtp-server error. */
export function failureReply(failure: Failure): Error & { responseCode: number } {
  const answer = smtpAnswer(failure);
  return reply(answer.code, answer.enhanced, answer.message.replace(/[\r\n]+/g, ' '));
}

/** The enhanced status code at the front of a reply built by `reply` ('5.1.1'), or null. */
export function enhancedCodeOf(error: Error): string | null {
  return enhancedAtFront.exec(error.message)?.[1] ?? null;
}

/** True for 4xx (the client should try again later). */
export function isTemporary(error: { responseCode: number }): boolean {
  return error.responseCode >= 400 && error.responseCode < 500;
}
