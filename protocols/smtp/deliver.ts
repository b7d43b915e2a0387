// Local delivery: one message, many recipients, each answered only once the message is
// durable in every mailbox it goes to. Used by inbound SMTP, LMTP, submission (local
// recipients), bounces and the safety net's resubmission alike.
//
// Per recipient mailbox, one commit appending to INBOX (the commits of one database overlap
// and land in one group commit). Every mailbox reached through the same envelope recipient
// gets the same bytes, so a group's members in one database share one stored content (the
// engine keys content by SHA-256). Two RCPTs reaching one mailbox deliver it once. In
// parallel the safety net keeps the message durably; a recipient is answered 250 only when
// both its commits and the safety net are done.

import type { Account, FrontEndContext } from '../frontend.js';
import { fail, ok, type Failure, type Result } from '../../engine/errors.js';
import { envelopeHeaders } from './trace.js';
import type { SafetyNet, SafetyNetDelivery } from './types.js';

export interface DeliveryTarget {
  /** The envelope recipient as given (lower-cased). */
  readonly rcpt: string;
  /** What it resolved to. */
  readonly accounts: readonly Account[];
}

export interface IncomingMessage {
  readonly id: string;
  readonly timeMs: number;
  readonly mailFrom: string;
  /** Headers added above the message for every recipient (Received, Authentication-Results), CRLF-terminated. */
  readonly prefix: string;
  readonly body: Uint8Array;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Where a recipient's copy goes: a mailbox, and a folder of it for a mail-enabled public folder. */
function placeOf(target: { readonly mailboxId: string; readonly folder?: string }): string {
  return target.folder === undefined ? target.mailboxId : `${target.mailboxId}/${target.folder}`;
}

/** The bytes stored for one envelope recipient. */
export function deliveredBytes(message: IncomingMessage, rcpt: string): Uint8Array {
  return concat([Buffer.from(envelopeHeaders(message.mailFrom, rcpt) + message.prefix, 'utf8'), message.body]);
}

/** A target's failure, naming the mailboxes that do not have the message (the others of the target do). */
export type TargetFailure = Failure & { readonly failedAccounts: readonly Account[] };

/** Told of each mailbox a message became durable in (the vacation auto-reply listens); must not throw. */
export type DeliveredHook = (delivered: { readonly account: Account; readonly rcpt: string; readonly message: IncomingMessage }) => void;

/** Delivers to every target; one Result per target, in order. */
export async function deliverLocal(context: FrontEndContext, safetyNet: SafetyNet, message: IncomingMessage, targets: readonly DeliveryTarget[], onDelivered?: DeliveredHook): Promise<Array<Result<void> & ({ ok: true } | TargetFailure)>> {
  const contents: Uint8Array[] = [];
  const byMailbox = new Map<string, { account: Account; rcpt: string; contentIndex: number }>();
  targets.forEach((target) => {
    let contentIndex = -1;
    for (const account of target.accounts) {
      if (byMailbox.has(placeOf(account))) continue;
      if (contentIndex < 0) {
        contentIndex = contents.length;
        contents.push(deliveredBytes(message, target.rcpt));
      }
      byMailbox.set(placeOf(account), { account, rcpt: target.rcpt, contentIndex });
    }
  });
  const deliveries: SafetyNetDelivery[] = [...byMailbox.values()].map(({ account, rcpt, contentIndex }) => ({
    rcpt,
    address: account.address,
    database: account.database,
    mailboxId: account.mailboxId,
    ...(account.folder === undefined ? {} : { folder: account.folder }),
    contentIndex,
  }));

  const commits = deliveries.map(async (delivery): Promise<Result<void>> => {
    try {
      const committed = await context.mailboxes(delivery.database).commit({
        mailboxId: delivery.mailboxId,
        ops: [{ op: 'append', folder: delivery.folder ?? 'INBOX', content: contents[delivery.contentIndex]!, internalDateMs: message.timeMs }],
      });
      return committed.ok ? ok(undefined) : committed;
    } catch (error) {
      return fail('DATABASE_UNAVAILABLE', `database ${delivery.database}: ${(error as Error).message}`);
    }
  });
  const kept = deliveries.length === 0
    ? Promise.resolve(ok(undefined))
    : safetyNet.keep({ id: message.id, timeMs: message.timeMs, mailFrom: message.mailFrom, deliveries, contents }).then(
        () => ok(undefined),
        (error: Error) => fail('DISK_FULL', `the transport log cannot keep the message: ${error.message}`),
      );
  const [netResult, ...commitResults] = await Promise.all([kept, ...commits]);
  const byMailboxResult = new Map<string, Result<void>>();
  deliveries.forEach((delivery, index) => byMailboxResult.set(placeOf(delivery), commitResults[index]!));
  if (onDelivered !== undefined && netResult!.ok) {
    for (const { account, rcpt } of byMailbox.values()) if (byMailboxResult.get(placeOf(account))!.ok) onDelivered({ account, rcpt, message });
  }

  return targets.map((target) => {
    if (!netResult!.ok) return { ...netResult!, failedAccounts: target.accounts };
    let failure: Failure | null = null;
    const failedAccounts: Account[] = [];
    for (const account of target.accounts) {
      const result = byMailboxResult.get(placeOf(account))!;
      if (result.ok) continue;
      failedAccounts.push(account);
      if (failure === null || (result.code !== 'OVER_QUOTA' && failure.code === 'OVER_QUOTA')) failure = result;
    }
    return failure === null ? { ok: true as const, value: undefined } : { ...failure, failedAccounts };
  });
}
