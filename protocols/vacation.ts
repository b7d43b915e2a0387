// The vacation auto-reply (RFC 8621 sec. 8 VacationResponse, sent by the rules of RFC 3834):
// the settings a user keeps through JMAP, and the responder local delivery calls for each
// mailbox a message became durable in. It answers at most once per sender per
// vacationPeriodMs (and again after the settings change), only between fromDate and toDate,
// never to the null reverse-path, to auto-submitted, list or bulk mail, to no-reply style
// senders, to the user's own addresses, or when the user is not named in To/Cc (a Bcc or a
// list copy). The reply goes out with the null reverse-path, `Auto-Submitted: auto-replied`,
// In-Reply-To and References, through the same submission path as the user's own mail.

import { decodeWords, htmlToText } from '../engine/api.js';
import type { Result } from '../engine/errors.js';
import { type Account, type AccountDocuments, type FrontEndContext, type Submission, type SubmissionReceipt, isOwnAddress } from './frontend.js';
import type { DeliveredHook } from './smtp/deliver.js';
import { headerValues, rfc5322Date } from './smtp/trace.js';

export const vacationDocument = 'vacation';
/** One auto-reply per sender per this long (RFC 5230's default of 7 days). */
export const vacationPeriodMs = 7 * 24 * 3600_000;
/** Senders remembered per user (oldest forgotten first). */
export const vacationSendersMax = 10_000;

export interface VacationSettings {
  readonly isEnabled: boolean;
  /** UTCDate strings (RFC 8620 1.4) or null. */
  readonly fromDate: string | null;
  readonly toDate: string | null;
  readonly subject: string | null;
  readonly textBody: string | null;
  readonly htmlBody: string | null;
}

export interface VacationDocument {
  /** Bumped on every change of the settings (the JMAP state). */
  readonly version: number;
  readonly settings: VacationSettings;
  /** Sender (lower-cased) → when they were last answered, under the current settings. */
  readonly replied: Readonly<Record<string, number>>;
}

export const vacationOff: VacationSettings = { isEnabled: false, fromDate: null, toDate: null, subject: null, textBody: null, htmlBody: null };

/** Is the response active at `nowMs`? */
export function vacationActive(settings: VacationSettings, nowMs: number): boolean {
  if (!settings.isEnabled) return false;
  if (settings.fromDate !== null && nowMs < Date.parse(settings.fromDate)) return false;
  if (settings.toDate !== null && nowMs >= Date.parse(settings.toDate)) return false;
  return true;
}

const noReplyLocalPart = /^(?:mailer-daemon|postmaster|listserv|majordomo|owner-.*|.*-request|.*-owner|.*-bounces?|no-?reply|do-?not-?reply|noreply-.*)$/i;

/** Why a message must not be answered (RFC 3834 sec. 2), or null when it may be. */
export function autoReplyRefusal(head: Uint8Array, sender: string, account: Account, rcpt: string): string | null {
  if (sender === '') return 'null reverse-path';
  if (isOwnAddress(account, sender)) return 'from the user';
  if (noReplyLocalPart.test(sender.slice(0, sender.lastIndexOf('@')))) return 'a no-reply or list address';
  const autoSubmitted = headerValues(head, 'auto-submitted')[0];
  if (autoSubmitted !== undefined && autoSubmitted.split(';')[0]!.trim().toLowerCase() !== 'no') return 'auto-submitted';
  if (headerValues(head, 'precedence').some((p) => /^(bulk|list|junk)$/i.test(p.trim()))) return 'bulk or list precedence';
  for (const list of ['list-id', 'list-unsubscribe', 'list-post', 'x-auto-response-suppress', 'feedback-id']) if (headerValues(head, list).length > 0) return `has ${list}`;
  const named = [...headerValues(head, 'to'), ...headerValues(head, 'cc')].join(',').toLowerCase();
  const mine = [account.address, ...account.aliases, rcpt.toLowerCase()];
  if (!mine.some((address) => named.includes(address))) return 'the user is not in To or Cc';
  return null;
}

/** The reply message (text/plain, UTF-8, base64 when not ASCII). */
export function autoReplyMessage(settings: VacationSettings, original: Uint8Array, from: string, to: string, nowMs: number, messageId: string): Uint8Array {
  const subject = decodeWords(headerValues(original, 'subject')[0] ?? '');
  const originalId = headerValues(original, 'message-id')[0]?.match(/<[^>]+>/)?.[0] ?? null;
  const references = [...(headerValues(original, 'references')[0]?.match(/<[^>]+>/g) ?? []).slice(-20), ...(originalId === null ? [] : [originalId])];
  const text = settings.textBody ?? (settings.htmlBody === null ? '' : htmlToText(settings.htmlBody));
  const replySubject = settings.subject ?? `Auto: ${subject}`;
  const encode = (value: string) => (/^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`);
  const ascii = /^[\x00-\x7f]*$/.test(text);
  const body = ascii ? text.replace(/\r?\n/g, '\r\n') : Buffer.from(text, 'utf8').toString('base64').replace(/.{1,76}/g, '$&\r\n');
  const headers = [
    `From: <${from}>`,
    `To: <${to}>`,
    `Subject: ${encode(replySubject.replace(/[\r\n]+/g, ' '))}`,
    `Date: ${rfc5322Date(nowMs)}`,
    `Message-ID: <${messageId}>`,
    ...(originalId === null ? [] : [`In-Reply-To: ${originalId}`]),
    ...(references.length === 0 ? [] : [`References: ${references.join(' ')}`]),
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: text/plain; charset=${ascii ? 'us-ascii' : 'utf-8'}`,
    `Content-Transfer-Encoding: ${ascii ? '7bit' : 'base64'}`,
  ];
  return Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}${body.endsWith('\r\n') ? '' : '\r\n'}`, 'utf8');
}

/**
 * The delivery hook: answers a delivered message when the recipient's vacation response is on.
 * Delivery does not wait for it; the promise (never rejected) is for tests.
 */
export function vacationResponder(
  context: Pick<FrontEndContext, 'log' | 'hostname'>,
  documents: AccountDocuments,
  submit: (submission: Submission) => Promise<Result<SubmissionReceipt>>,
  nowMs: () => number,
): (delivered: Parameters<DeliveredHook>[0]) => Promise<void> {
  const log = context.log.child({ component: 'vacation' });
  const respond = async ({ account, rcpt, message }: Parameters<DeliveredHook>[0]): Promise<void> => {
    const sender = message.mailFrom.toLowerCase();
    if (sender === '') return;
    const read = await documents.read<VacationDocument>(account.mailboxId, vacationDocument);
    if (!read.ok || read.value === null) return;
    const now = nowMs();
    if (!vacationActive(read.value.settings, now)) return;
    const refusal = autoReplyRefusal(message.body, sender, account, rcpt);
    if (refusal !== null) return log.info({ account: account.address, refusal }, 'vacation: not answered');
    // Marked before sending: a reply that fails is not retried, but one is never sent twice.
    const due = await documents.update<VacationDocument, VacationSettings | null>(account.mailboxId, vacationDocument, (current) => {
      if (current === null || !vacationActive(current.settings, now)) return { result: null };
      const last = current.replied[sender];
      if (last !== undefined && now - last < vacationPeriodMs) return { result: null };
      const replied = Object.entries({ ...current.replied, [sender]: now }).sort((a, b) => a[1] - b[1]).slice(-vacationSendersMax);
      return { value: { ...current, replied: Object.fromEntries(replied) }, result: current.settings };
    });
    if (!due.ok || due.value === null) return;
    const from = isOwnAddress(account, rcpt) ? rcpt.toLowerCase() : account.address;
    const content = autoReplyMessage(due.value, message.body, from, sender, now, `${message.id}.vacation@${context.hostname}`);
    const sent = await submit({ account, mailFrom: '', recipients: [sender], content, via: { helo: context.hostname, clientAddress: '127.0.0.1', protocol: 'LOCAL' }, autoReply: true });
    log.info({ account: account.address, ok: sent.ok && sent.value.recipients.every((r) => r.outcome !== 'refused') }, 'vacation: answered');
  };
  return (delivered) => respond(delivered).catch((error: Error) => log.warn({ error: error.message }, 'vacation: reply failed'));
}
