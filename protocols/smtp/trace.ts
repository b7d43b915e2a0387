// The trace headers a delivery prepends (RFC 5321 sec. 4.4): Return-Path with the envelope
// sender, Delivered-To with the envelope recipient, and Received naming who handed the message
// to whom. Pure functions of what the session knew; no clock, no randomness.

export interface ReceivedFacts {
  /** What the client said in HELO/EHLO/LHLO. */
  readonly helo: string;
  /** Reverse DNS name of the client, when known. */
  readonly clientHostname: string | null;
  readonly clientAddress: string;
  /** This server's name. */
  readonly hostname: string;
  /** RFC 3848 protocol: ESMTP, ESMTPS, ESMTPSA, LMTP, LMTPS, ... */
  readonly protocol: string;
  /** The transaction id (the queue id in logs). */
  readonly id: string;
  /** Present only when the transaction has one recipient: naming several would leak Bcc. */
  readonly recipient: string | null;
  readonly timeMs: number;
}

/** RFC 5322 date-time in UTC: `Sun, 29 Nov 2026 09:46:47 +0000`. */
export function rfc5322Date(timeMs: number): string {
  return new Date(timeMs).toUTCString().replace(/GMT$/, '+0000');
}

/** A header field value is one line here: control characters of client-supplied text become spaces. */
export function headerSafe(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 255);
}

/** RFC 3848 `with` keyword. */
export function protocolName(lmtp: boolean, secure: boolean, authenticated: boolean): string {
  return `${lmtp ? 'LMTP' : 'ESMTP'}${secure ? 'S' : ''}${authenticated ? 'A' : ''}`;
}

export function receivedHeader(facts: ReceivedFacts): string {
  const from = `${headerSafe(facts.helo || 'unknown')} (${facts.clientHostname === null ? '' : `${headerSafe(facts.clientHostname)} `}[${facts.clientAddress}])`;
  const recipient = facts.recipient === null ? '' : `\r\n\tfor <${headerSafe(facts.recipient)}>`;
  return `Received: from ${from}\r\n\tby ${facts.hostname} (Quire) with ${facts.protocol} id ${facts.id}${recipient};\r\n\t${rfc5322Date(facts.timeMs)}\r\n`;
}

/** `Return-Path` and `Delivered-To` for one recipient; the null sender is `<>`. */
export function envelopeHeaders(mailFrom: string, recipient: string): string {
  return `Return-Path: <${headerSafe(mailFrom)}>\r\nDelivered-To: ${headerSafe(recipient)}\r\n`;
}

/**
 * The header section's fields named `name` (case-insensitive), unfolded, in order. Reads only
 * the header section (up to the first empty line) and at most `bytesMax` of it.
 */
export function headerValues(message: Uint8Array, name: string, bytesMax = 256 * 1024): string[] {
  const head = Buffer.from(message.buffer, message.byteOffset, Math.min(message.length, bytesMax)).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const section = end < 0 ? head : head.slice(0, end);
  const values: string[] = [];
  const wanted = name.toLowerCase();
  for (const field of section.split(/\r?\n(?![ \t])/)) {
    const colon = field.indexOf(':');
    if (colon > 0 && field.slice(0, colon).trim().toLowerCase() === wanted) values.push(field.slice(colon + 1).replace(/\r?\n[ \t]/g, ' ').trim());
  }
  return values;
}
