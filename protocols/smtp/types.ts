// What the SMTP/LMTP front end needs besides the FrontEndContext: the durable transport pieces
// that live in the data directory (the safety net and the outbound queue, made by
// server/delivery), the clock and the id source. Interfaces only, so the front end can run
// over in-memory versions in unit tests and the file-backed ones in the server.

import type { DeliveredHook } from './deliver.js';

/** One recipient mailbox a message was delivered to. */
export interface SafetyNetDelivery {
  /** The envelope recipient as the client gave it (an alias or group address maybe). */
  readonly rcpt: string;
  /** The account's primary address. */
  readonly address: string;
  readonly database: string;
  readonly mailboxId: string;
  /** The folder it went into when not INBOX (a mail-enabled public folder). */
  readonly folder?: string;
  /** Index into SafetyNetEntry.contents: the content this delivery shares with the others. */
  readonly contentIndex: number;
  /**
   * This delivery's own header fields (Return-Path, Delivered-To), in front of the content:
   * the message appended is prefix + contents[contentIndex] (`deliveredMessage`). Absent in
   * records written before prefixes (their contents held each recipient's whole bytes).
   */
  readonly prefix?: string;
}

/** One delivered message, as the safety net keeps it. */
export interface SafetyNetEntry {
  readonly id: string;
  /** Delivery time; also the message's internal date in every mailbox. */
  readonly timeMs: number;
  readonly mailFrom: string;
  readonly deliveries: readonly SafetyNetDelivery[];
  /** What the deliveries share: each delivery's message is its prefix + one of these. */
  readonly contents: readonly Uint8Array[];
}

/** The message a delivery appended: its own prefix and the content it shares. */
export function deliveredMessage(entry: SafetyNetEntry, delivery: SafetyNetDelivery): { readonly prefix: Uint8Array; readonly content: Uint8Array; readonly sizeBytes: number } {
  const prefix = new Uint8Array(Buffer.from(delivery.prefix ?? '', 'utf8'));
  const content = entry.contents[delivery.contentIndex]!;
  return { prefix, content, sizeBytes: prefix.length + content.length };
}

/** The transport log of delivered messages. `keep` resolves once the entry is durable (fsync). */
export interface SafetyNet {
  keep(entry: SafetyNetEntry): Promise<void>;
}

/** RFC 3461 parameters of one recipient. */
export interface RecipientDsn {
  /** NOTIFY: null when not given (failures and delays are reported); ['NEVER'] or some of SUCCESS, FAILURE, DELAY. */
  readonly notify: readonly string[] | null;
  /** ORCPT as given (addr-type;xtext), or null. */
  readonly orcpt: string | null;
}

/** RFC 3461 parameters of a message: RET and ENVID of MAIL FROM, NOTIFY and ORCPT of each RCPT. */
export interface MessageDsn {
  readonly ret: 'FULL' | 'HDRS' | null;
  readonly envid: string | null;
  /** By recipient address (lower case); a recipient without parameters may be missing. */
  readonly recipients: Readonly<Record<string, RecipientDsn>>;
}

export interface OutboundMessage {
  readonly id: string;
  readonly timeMs: number;
  /** '' for the null reverse path (bounces). */
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly content: Uint8Array;
  /**
   * Recipients the queue delivers locally (the part of an SMTP transaction whose database could
   * not take the message at DATA): address (resolving to one mailbox) -> the envelope recipient
   * as given, its Delivered-To. Those recipients' content lacks Return-Path and Delivered-To.
   */
  readonly local?: Readonly<Record<string, string>>;
  readonly dsn?: MessageDsn;
}

/** A recipient the sender is told about: failed for good, or (action) delivered or relayed when NOTIFY=SUCCESS asked. */
export interface FailedRecipient {
  readonly address: string;
  /** RFC 3464 Action; 'failed' when absent. */
  readonly action?: 'failed' | 'delayed' | 'delivered' | 'relayed';
  readonly status: string;
  readonly diagnostic: string;
  readonly remoteMta: string | null;
}

/** The durable outbound queue. `enqueue` resolves once the message is durable (fsync). */
export interface OutboundQueue {
  enqueue(message: OutboundMessage, failed?: readonly FailedRecipient[]): Promise<void>;
}

/** What the session knows when it asks for an Authentication-Results header. */
export interface InboundFacts {
  readonly clientAddress: string;
  readonly helo: string;
  readonly mailFrom: string;
}

export interface MailServices {
  readonly safetyNet: SafetyNet;
  /** null: remote recipients are refused on submission (550 5.7.1). */
  readonly outbound: OutboundQueue | null;
  nowMs(): number;
  /** A transaction id: unique, short, safe in a header. */
  newId(): string;
  /** Inbound (port 2525) only: an Authentication-Results header (with CRLF) for the message, or null. */
  authenticate?(message: Uint8Array, facts: InboundFacts): Promise<string | null>;
  /** Outbound only: the message as it should leave (DKIM-signed for the sender's domain). */
  sign?(message: Uint8Array, mailFrom: string): Promise<Uint8Array>;
  /** Told of each local delivery once durable (the vacation auto-reply). */
  readonly delivered?: DeliveredHook;
}
