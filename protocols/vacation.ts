// The vacation auto-reply (RFC 8621 sec. 8 VacationResponse, sent by the rules of RFC 3834):
// the settings a user keeps through JMAP, and the responder local delivery calls for each
// mailbox a message became durable in. It answers at most once per sender per
// vacationPeriodMs (and again after the settings change), only between fromDate and toDate,
// never to the null reverse-path, to auto-submitted, list or bulk mail, to no-reply style
// senders, to the user's own addresses, or when the user is not named in To/Cc (a Bcc or a
// list copy). The reply goes out with the null reverse-path, `Auto-Submitted: auto-replied`,
// In-Reply-To and References, through the same submission path as the user's own mail.
//
// The settings and whom they answered are account documents (protocols/documents.ts) in the
// mailbox database's log: the settings one document of kind `vacation`, each sender answered one
// of kind `vacation-replied` (its value the time of the answer). An answer counts only when
// recorded after the settings' last change (a higher document modseq), so changing the settings
// starts a new period for everyone. Keeping whom it answered in the log, not on one server's
// disk, means a failover or a mailbox move does not answer the same sender twice.

import { decodeWords, htmlToText } from '../engine/api.js';
import { ok, type Result } from '../engine/errors.js';
import { changeDocuments } from './documents.js';
import { type Account, type FrontEndContext, type Submission, type SubmissionReceipt, isOwnAddress } from './frontend.js';
import type { DeliveredHook } from './smtp/deliver.js';
import { headerValues, rfc5322Date } from './smtp/trace.js';

/** The document kind of the settings (one document, `vacationId`) and of whom they answered (one per sender). */
export const vacationKind = 'vacation';
export const vacationId = 'singleton';
export const vacationRepliedKind = 'vacation-replied';
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

/** A `vacation-replied` document's value: when the sender (its id, lower-cased) was last answered. */
export interface VacationReplied {
  readonly atMs: number;
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
 * Delivery does not wait for it; the promise (never rejected) is for tests. The decisions for
 * one mailbox run one after the other (so concurrent deliveries do not race for the record).
 */
export function vacationResponder(
  context: Pick<FrontEndContext, 'log' | 'hostname' | 'mailboxes'>,
  submit: (submission: Submission) => Promise<Result<SubmissionReceipt>>,
  nowMs: () => number,
): DeliveredHook & ((delivered: Parameters<DeliveredHook>[0]) => Promise<void>) {
  const log = context.log.child({ component: 'vacation' });
  const chains = new Map<string, Promise<unknown>>();
  /** The settings to answer with, once recorded as answered; null when not due. */
  const due = async (account: Account, sender: string, now: number): Promise<VacationSettings | null> => {
    // Marked before sending: a reply that fails is not retried, but one is never sent twice.
    const marked = await changeDocuments(context.mailboxes(account.database), account.mailboxId, [{ kind: vacationKind, ids: [vacationId] }, { kind: vacationRepliedKind, ids: [sender] }], (read) => {
      const current = read.get(vacationKind)!.documents[0];
      if (current === undefined || !vacationActive(current.value as VacationSettings, now)) return { ops: [], result: null };
      const last = read.get(vacationRepliedKind)!.documents[0];
      if (last !== undefined && last.modseq > current.modseq && now - (last.value as VacationReplied).atMs < vacationPeriodMs) return { ops: [], result: null };
      const value: VacationReplied = { atMs: now };
      return { ops: [{ op: 'setDocument', kind: vacationRepliedKind, id: sender, value, keepNewest: vacationSendersMax }], result: current.value as VacationSettings };
    });
    return marked.ok ? marked.value.result : null;
  };
  const respond = async ({ account, rcpt, message, documents }: Parameters<DeliveredHook>[0]): Promise<void> => {
    const sender = message.mailFrom.toLowerCase();
    if (sender === '') return;
    const now = nowMs();
    // Read with the delivery's commit (`reads` below) when the delivery path did; else asked for.
    const read = documents !== undefined ? ok(documents) : await context.mailboxes(account.database).documents(account.mailboxId, vacationKind, { ids: [vacationId] });
    if (!read.ok || read.value.documents.length === 0 || !vacationActive(read.value.documents[0]!.value as VacationSettings, now)) return;
    const refusal = autoReplyRefusal(message.body, sender, account, rcpt);
    if (refusal !== null) return log.info({ account: account.address, refusal }, 'vacation: not answered');
    const previous = chains.get(account.mailboxId) ?? Promise.resolve();
    const decided = previous.catch(() => undefined).then(() => due(account, sender, now));
    chains.set(account.mailboxId, decided);
    const forget = (): void => {
      if (chains.get(account.mailboxId) === decided) chains.delete(account.mailboxId);
    };
    decided.then(forget, forget);
    const settings = await decided;
    if (settings === null) return;
    const from = isOwnAddress(account, rcpt) ? rcpt.toLowerCase() : account.address;
    const content = autoReplyMessage(settings, message.body, from, sender, now, `${message.id}.vacation@${context.hostname}`);
    const sent = await submit({ account, mailFrom: '', recipients: [sender], content, via: { helo: context.hostname, clientAddress: '127.0.0.1', protocol: 'LOCAL' }, autoReply: true });
    log.info({ account: account.address, ok: sent.ok && sent.value.recipients.every((r) => r.outcome !== 'refused') }, 'vacation: answered');
  };
  const hook = (delivered: Parameters<DeliveredHook>[0]): Promise<void> => respond(delivered).catch((error: Error) => log.warn({ error: error.message }, 'vacation: reply failed'));
  return Object.assign(hook, { reads: { kind: vacationKind, ids: [vacationId] } });
}
