// Local delivery: one message, many recipients, each answered only once the message is
// durable in every mailbox it goes to. Used by inbound SMTP, LMTP, submission (local
// recipients), bounces and the safety net's resubmission alike.
//
// Every recipient's copy is its own Return-Path and Delivered-To (the engine's per-message
// prefix) in front of one content that all share (Received, Authentication-Results and the
// message as received). Per database, one commitMany appends to every recipient mailbox
// there: the content crosses to the database once and is stored there once (the engine keys
// content by SHA-256), however many distinct RCPTs reach it. Two RCPTs reaching one mailbox
// deliver it once. In parallel the safety net keeps the message durably (the content once,
// each delivery's prefix); a recipient is answered 250 only when its commits and the safety
// net are done.

import type { Account, FrontEndContext } from '../frontend.js';
import type { DocumentListing } from '../../engine/api.js';
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

/** The bytes every recipient's copy shares, behind its own envelope headers (`envelopeHeaders`). */
export function sharedContent(message: IncomingMessage): Uint8Array {
  return concat([Buffer.from(message.prefix, 'utf8'), message.body]);
}

/** A target's failure, naming the mailboxes that do not have the message (the others of the target do). */
export type TargetFailure = Failure & { readonly failedAccounts: readonly Account[] };

/**
 * Told of each mailbox a message became durable in (the vacation auto-reply listens); must not
 * throw. `reads`: documents read with the commit (`documentsAfter`) and handed over as
 * `documents`, so the hook needs no round trip of its own.
 */
export interface DeliveredHook {
  (delivered: { readonly account: Account; readonly rcpt: string; readonly message: IncomingMessage; readonly documents?: DocumentListing }): void;
  readonly reads?: { readonly kind: string; readonly ids: readonly string[] };
}

/** Delivers to every target; one Result per target, in order. */
export async function deliverLocal(context: FrontEndContext, safetyNet: SafetyNet, message: IncomingMessage, targets: readonly DeliveryTarget[], onDelivered?: DeliveredHook): Promise<Array<Result<void> & ({ ok: true } | TargetFailure)>> {
  const content = sharedContent(message);
  const byMailbox = new Map<string, { account: Account; rcpt: string }>();
  for (const target of targets) {
    for (const account of target.accounts) if (!byMailbox.has(placeOf(account))) byMailbox.set(placeOf(account), { account, rcpt: target.rcpt });
  }
  const deliveries: SafetyNetDelivery[] = [...byMailbox.values()].map(({ account, rcpt }) => ({
    rcpt,
    address: account.address,
    database: account.database,
    mailboxId: account.mailboxId,
    ...(account.folder === undefined ? {} : { folder: account.folder }),
    contentIndex: 0,
    prefix: envelopeHeaders(message.mailFrom, rcpt),
  }));

  const byDatabase = new Map<string, SafetyNetDelivery[]>();
  for (const delivery of deliveries) {
    const list = byDatabase.get(delivery.database);
    if (list === undefined) byDatabase.set(delivery.database, [delivery]);
    else list.push(delivery);
  }
  const reads = onDelivered?.reads;
  const documents = new Map<string, DocumentListing>();
  const committed = [...byDatabase].map(async ([database, list]): Promise<Array<Result<void>>> => {
    try {
      const results = await context.mailboxes(database).commitMany(
        list.map((delivery) => ({
          mailboxId: delivery.mailboxId,
          ops: [{ op: 'append', folder: delivery.folder ?? 'INBOX', content, prefix: new Uint8Array(Buffer.from(delivery.prefix!, 'utf8')), internalDateMs: message.timeMs }],
          ...(reads === undefined ? {} : { documentsAfter: reads }),
        })),
      );
      return results.map((result, i) => {
        if (!result.ok) return result;
        if (result.value.documentsRead !== undefined) documents.set(placeOf(list[i]!), result.value.documentsRead);
        return ok(undefined);
      });
    } catch (error) {
      return list.map(() => fail('DATABASE_UNAVAILABLE', `database ${database}: ${(error as Error).message}`));
    }
  });
  const kept = deliveries.length === 0
    ? Promise.resolve(ok(undefined))
    : safetyNet.keep({ id: message.id, timeMs: message.timeMs, mailFrom: message.mailFrom, deliveries, contents: [content] }).then(
        () => ok(undefined),
        (error: Error) => fail('DISK_FULL', `the transport log cannot keep the message: ${error.message}`),
      );
  const [netResult, ...commitResults] = await Promise.all([kept, ...committed]);
  const byMailboxResult = new Map<string, Result<void>>();
  [...byDatabase.values()].forEach((list, i) => list.forEach((delivery, k) => byMailboxResult.set(placeOf(delivery), (commitResults[i] as Array<Result<void>>)[k]!)));
  if (onDelivered !== undefined && netResult!.ok) {
    for (const { account, rcpt } of byMailbox.values()) if (byMailboxResult.get(placeOf(account))!.ok) {
        const read = documents.get(placeOf(account));
        onDelivered({ account, rcpt, message, ...(read === undefined ? {} : { documents: read }) });
      }
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
