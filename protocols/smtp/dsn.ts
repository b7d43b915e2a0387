// Delivery status notifications (RFC 3464): the bounce a sender gets when the outbound queue
// gives up on some recipients. A multipart/report with a human-readable part, the
// machine-readable message/delivery-status, and the original message's header section.
// Pure: the caller passes the time, ids and hostname.

import { rfc5322Date } from './trace.js';

export interface FailedRecipient {
  readonly address: string;
  /** Enhanced status code, e.g. '5.1.1' or '4.4.7'. */
  readonly status: string;
  /** The remote server's reply or our reason, one line. */
  readonly diagnostic: string;
  /** The server that answered, when one did. */
  readonly remoteMta: string | null;
}

export interface DsnInput {
  readonly hostname: string;
  /** Where the bounce goes: the original envelope sender. */
  readonly to: string;
  readonly originalId: string;
  readonly arrivalMs: number;
  readonly nowMs: number;
  readonly boundary: string;
  readonly failed: readonly FailedRecipient[];
  /** The original message; only its header section is returned. */
  readonly original: Uint8Array;
}

function headerSection(message: Uint8Array): string {
  const text = Buffer.from(message).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return (end < 0 ? text : text.slice(0, end)).replace(/\r?\n/g, '\r\n') + '\r\n';
}

const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ').slice(0, 900);

export function buildDsn(input: DsnInput): Uint8Array {
  const { hostname, boundary } = input;
  const lines = [
    `From: Mail Delivery System <MAILER-DAEMON@${hostname}>`,
    `To: <${input.to}>`,
    `Subject: Undelivered Mail Returned to Sender`,
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
    ``,
    `Your message could not be delivered to the following recipients:`,
    ``,
    ...input.failed.map((f) => `<${f.address}>: ${oneLine(f.diagnostic)}`),
    ``,
    `--${boundary}`,
    `Content-Type: message/delivery-status`,
    ``,
    `Reporting-MTA: dns; ${hostname}`,
    `X-Quire-Queue-ID: ${input.originalId}`,
    `Arrival-Date: ${rfc5322Date(input.arrivalMs)}`,
    ...input.failed.flatMap((f) => [
      ``,
      `Final-Recipient: rfc822; ${f.address}`,
      `Action: failed`,
      `Status: ${f.status}`,
      ...(f.remoteMta === null ? [] : [`Remote-MTA: dns; ${f.remoteMta}`]),
      `Diagnostic-Code: smtp; ${oneLine(f.diagnostic)}`,
    ]),
    ``,
    `--${boundary}`,
    `Content-Type: text/rfc822-headers`,
    ``,
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n${headerSection(input.original)}\r\n--${boundary}--\r\n`, 'latin1');
}
