// Delivery status notifications (RFC 3464): the report a sender gets when the outbound queue
// gives up on some recipients (Action: failed), or, when the sender asked (RFC 3461), that a
// message is still being retried (NOTIFY=DELAY: delayed), was delivered here (NOTIFY=SUCCESS:
// delivered) or handed to a server that may not report (relayed). A multipart/report with a human-readable part, the machine-readable
// message/delivery-status (with Original-Envelope-Id and Original-Recipient when given), and the
// original message: its header section (RET=HDRS, and the default), or all of it (RET=FULL).
// Pure: the caller passes the time, ids and hostname.

import { rfc5322Date } from './trace.js';
import type { FailedRecipient, MessageDsn, OutboundMessage } from './types.js';

export type { FailedRecipient };

export interface DsnInput {
  readonly hostname: string;
  /** Where the report goes: the original envelope sender. */
  readonly to: string;
  readonly originalId: string;
  readonly arrivalMs: number;
  readonly nowMs: number;
  readonly boundary: string;
  /** The recipients reported on (failed unless their action says otherwise). */
  readonly failed: readonly FailedRecipient[];
  /** The original message. */
  readonly original: Uint8Array;
  /** The sender's RFC 3461 parameters, when given. */
  readonly dsn?: MessageDsn;
}

function headerSection(message: Uint8Array): string {
  const text = Buffer.from(message).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return (end < 0 ? text : text.slice(0, end)).replace(/\r?\n/g, '\r\n') + '\r\n';
}

const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ').slice(0, 900);

/** RFC 3461 sec. 4 xtext: what the sender gave as ENVID, as it goes back in Original-Envelope-Id (smtp-server hands it over decoded). */
export function xtext(value: string): string {
  return [...Buffer.from(value, 'utf8')].map((byte) => (byte >= 33 && byte <= 126 && byte !== 43 && byte !== 61 ? String.fromCharCode(byte) : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** The recipients of `failed` the sender wants to hear about (RFC 3461 sec. 4.1: NOTIFY). */
export function wanted(failed: readonly FailedRecipient[], dsn: MessageDsn | undefined): FailedRecipient[] {
  return failed.filter((f) => {
    const notify = dsn?.recipients[f.address.toLowerCase()]?.notify ?? null;
    const action = f.action ?? 'failed';
    if (notify === null) return action === 'failed';
    return notify.includes(action === 'failed' ? 'FAILURE' : action === 'delayed' ? 'DELAY' : 'SUCCESS');
  });
}

export function buildDsn(input: DsnInput): Uint8Array {
  const { hostname, boundary } = input;
  const allFailed = input.failed.every((f) => (f.action ?? 'failed') === 'failed');
  const full = input.dsn?.ret === 'FULL';
  const anyDelayed = input.failed.some((f) => f.action === 'delayed');
  const heading = (action: string): string =>
    action === 'failed' ? 'Your message could not be delivered to the following recipients:'
      : action === 'delayed' ? 'Delivery to the following recipients is delayed; it is still being tried (no action is needed):'
      : action === 'delivered' ? 'Your message was delivered to the following recipients:'
        : 'Your message was relayed to the following recipients (no further notification may come):';
  const actions = [...new Set(input.failed.map((f) => f.action ?? 'failed'))];
  const lines = [
    `From: Mail Delivery System <MAILER-DAEMON@${hostname}>`,
    `To: <${input.to}>`,
    `Subject: ${allFailed ? 'Undelivered Mail Returned to Sender' : anyDelayed ? 'Delayed Mail (still being retried)' : 'Successful Mail Delivery Report'}`,
    `Date: ${rfc5322Date(input.nowMs)}`,
    `Message-ID: <${input.originalId}.dsn.${input.nowMs}@${hostname}>`,
    `Auto-Submitted: auto-replied`,
    `MIME-Version: 1.0`,
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    ``,
    `This is a MIME-encapsulated message.`,
    ``,
    `--${boundary}`,
    `Content-Type: text/plain; charset=us-ascii`,
    ``,
    `This is the mail system at ${hostname}.`,
    ...actions.flatMap((action) => [
      ``,
      heading(action),
      ``,
      ...input.failed.filter((f) => (f.action ?? 'failed') === action).map((f) => `<${f.address}>: ${oneLine(f.diagnostic)}`),
    ]),
    ``,
    `--${boundary}`,
    `Content-Type: message/delivery-status`,
    ``,
    `Reporting-MTA: dns; ${hostname}`,
    ...(input.dsn?.envid ? [`Original-Envelope-Id: ${xtext(input.dsn.envid).slice(0, 900)}`] : []),
    `X-Quire-Queue-ID: ${input.originalId}`,
    `Arrival-Date: ${rfc5322Date(input.arrivalMs)}`,
    ...input.failed.flatMap((f) => {
      const orcpt = input.dsn?.recipients[f.address.toLowerCase()]?.orcpt ?? null;
      return [
        ``,
        ...(orcpt === null ? [] : [`Original-Recipient: ${oneLine(orcpt)}`]),
        `Final-Recipient: rfc822; ${f.address}`,
        `Action: ${f.action ?? 'failed'}`,
        `Status: ${f.status}`,
        ...(f.remoteMta === null ? [] : [`Remote-MTA: dns; ${f.remoteMta}`]),
        `Diagnostic-Code: smtp; ${oneLine(f.diagnostic)}`,
      ];
    }),
    ``,
    `--${boundary}`,
    `Content-Type: ${full ? 'message/rfc822' : 'text/rfc822-headers'}`,
    ``,
  ];
  const head = Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1');
  const returned = full ? Buffer.from(input.original) : Buffer.from(headerSection(input.original), 'latin1');
  const needsBreak = full && !returned.subarray(-2).equals(Buffer.from('\r\n'));
  return Buffer.concat([head, returned, Buffer.from(`${needsBreak ? '\r\n' : ''}\r\n--${boundary}--\r\n`, 'latin1')]);
}

/**
 * The report to send the sender of `message` about `reported`, or null when there is nothing
 * to tell: no recipient they asked to hear of (NOTIFY), or the message was itself a report
 * (null sender: a bounce is never bounced).
 */
export function reportFor(message: OutboundMessage, reported: readonly FailedRecipient[], report: { hostname: string; id: string; nowMs: number }): Uint8Array | null {
  const told = wanted(reported, message.dsn);
  if (told.length === 0 || message.mailFrom === '') return null;
  return buildDsn({
    hostname: report.hostname,
    to: message.mailFrom,
    originalId: message.id,
    arrivalMs: message.timeMs,
    nowMs: report.nowMs,
    boundary: `${report.id}/${report.hostname}`,
    failed: told,
    original: message.content,
    ...(message.dsn === undefined ? {} : { dsn: message.dsn }),
  });
}
