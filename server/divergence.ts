// What a server does with a divergent tail (engine/replication/divergence.ts): after a lossy
// failover the old active copy comes back with acknowledged writes no other copy has; its log
// is cut back to the common point, and this file gives the mail back, as Exchange's Safety Net
// does: every delivery in the cut-off part is found in this server's transport safety net (the
// server that accepted it, since deliveries go to the active copy's server) and handed to the
// server holding the active copy now, which appends it unless the mailbox already holds it.
//
// What the safety net never saw cannot be given back: IMAP APPEND, COPY/MOVE, JMAP imports,
// flag changes and expunges made on the old active copy in its last moments. Those are
// reported (how many, in which folders) in the server's log and in a JSON file beside the
// saved tail; the cut-off bytes themselves stay in <database dir>/divergent/ for an operator.
// Exchange behaves the same way: Safety Net only holds what transport delivered.

import { writeFile } from 'node:fs/promises';
import type { MailboxApi } from '../engine/api.js';
import type { DivergentTail, LostAppend } from '../engine/replication/divergence.js';
import { decodeEntry, encodeEntry, readSafetyNet, Resubmitter } from './delivery/safety-net.js';
import { deliveredMessage } from '../protocols/smtp/types.js';

export interface GiveBackReport {
  readonly database: string;
  readonly copy: string;
  /** Messages the tail appended. */
  readonly appends: number;
  /** Of those, deliveries found in the safety net and handed to the active copy's server. */
  readonly handedOver: number;
  /** Appends that were not deliveries (IMAP APPEND, COPY/MOVE, JMAP): lost, by folder. */
  readonly notDeliveries: number;
  readonly notDeliveriesByFolder: Readonly<Record<string, number>>;
  readonly flagChanges: number;
  readonly expunges: number;
  readonly otherEvents: number;
  /** Hand-overs that failed (the active copy's server could not be reached): still in the safety net. */
  readonly handOverFailures: string[];
}

const keyOf = (mailboxId: string, timeMs: number, sizeBytes: number): string => `${mailboxId}:${timeMs}:${sizeBytes}`;

/**
 * Finds the tail's deliveries in the safety net at `safetyNetDir`, hands each (restricted to
 * its deliveries lost from this database) to the active copy's server, and reports the rest.
 */
export async function giveBackDivergentTail(
  tail: DivergentTail,
  options: { readonly safetyNetDir: string; readonly handOver: (database: string, payload: Uint8Array) => Promise<void>; readonly say: (line: string) => void },
): Promise<GiveBackReport> {
  const lost = new Map<string, LostAppend[]>();
  for (const append of tail.appends) {
    const key = keyOf(append.mailboxId, append.internalDateMs, append.sizeBytes);
    lost.set(key, [...(lost.get(key) ?? []), append]);
  }
  let handedOver = 0;
  const handOverFailures: string[] = [];
  if (tail.appends.length > 0 && tail.acknowledged) {
    const fromMs = Math.min(...tail.appends.map((a) => a.internalDateMs));
    const toMs = Math.max(...tail.appends.map((a) => a.internalDateMs));
    await readSafetyNet(options.safetyNetDir, fromMs, toMs, async (entry) => {
      const deliveries = entry.deliveries.filter((d) => {
        if (d.database !== tail.database) return false;
        const waiting = lost.get(keyOf(d.mailboxId, entry.timeMs, deliveredMessage(entry, d).sizeBytes));
        return waiting !== undefined && waiting.length > 0;
      });
      if (deliveries.length === 0) return;
      for (const d of deliveries) lost.get(keyOf(d.mailboxId, entry.timeMs, deliveredMessage(entry, d).sizeBytes))!.pop();
      try {
        await options.handOver(tail.database, encodeEntry({ ...entry, deliveries }));
        handedOver += deliveries.length;
      } catch (error) {
        handOverFailures.push(`${entry.id}: ${(error as Error).message}`);
      }
    });
  }
  const notDeliveriesByFolder: Record<string, number> = {};
  let notDeliveries = 0;
  for (const appends of lost.values()) {
    for (const append of appends) {
      const folder = append.folder ?? `folder #${append.folderId}`;
      notDeliveriesByFolder[folder] = (notDeliveriesByFolder[folder] ?? 0) + 1;
      notDeliveries += 1;
    }
  }
  const report: GiveBackReport = {
    database: tail.database,
    copy: tail.copy,
    appends: tail.appends.length,
    handedOver,
    notDeliveries,
    notDeliveriesByFolder,
    flagChanges: tail.flagChanges,
    expunges: tail.expunges,
    otherEvents: tail.otherEvents,
    handOverFailures,
  };
  const folders = Object.entries(notDeliveriesByFolder).map(([name, n]) => `${name} (${n})`).join(', ');
  if (!tail.acknowledged) {
    options.say(
      `${tail.database}: divergent tail of ${tail.copy} (sync mode: never acknowledged, so nothing is resubmitted; senders and clients retry): ` +
        `${report.appends} messages appended${folders === '' ? '' : ` in ${folders}`}, ${tail.flagChanges} flag changes, ${tail.expunges} expunges; the cut-off log is in ${tail.savedTo}`,
    );
  } else options.say(
    `${tail.database}: divergent tail of ${tail.copy}: ${report.appends} messages appended; ${handedOver} deliveries handed to the active copy for resubmission from the safety net; ` +
      `${report.notDeliveries} not deliveries (IMAP APPEND, COPY/MOVE, JMAP), not recoverable from the safety net${folders === '' ? '' : `: ${folders}`}; ` +
      `${tail.flagChanges} flag changes, ${tail.expunges} expunges and ${tail.otherEvents} other changes lost (clients resynchronize); the cut-off log is in ${tail.savedTo}` +
      (handOverFailures.length > 0 ? `; ${handOverFailures.length} hand-overs FAILED (still in the safety net): ${handOverFailures.slice(0, 3).join('; ')}` : ''),
  );
  await writeFile(`${tail.savedTo.slice(0, -'.qlog'.length)}.resubmit.json`, JSON.stringify(report, null, 2)).catch(() => {});
  return report;
}

/**
 * The active copy's side: appends handed-over safety-net entries unless the mailbox already
 * holds them. One Resubmitter per database is kept while hand-overs keep coming, so a long
 * tail lists each mailbox once.
 */
export class HandOverReceiver {
  private readonly resubmitters = new Map<string, { resubmitter: Resubmitter; timer: NodeJS.Timeout }>();

  constructor(private readonly apiFor: (database: string) => MailboxApi, private readonly say: (line: string) => void) {}

  async receive(database: string, payload: Uint8Array): Promise<void> {
    const entry = decodeEntry(payload);
    if (entry === null) {
      this.say(`${database}: a hand-over that is not a safety-net entry was ignored`);
      return;
    }
    let held = this.resubmitters.get(database);
    if (held === undefined) {
      held = { resubmitter: new Resubmitter(database, this.apiFor(database)), timer: setTimeout(() => {}, 0) };
      this.resubmitters.set(database, held);
    }
    clearTimeout(held.timer);
    held.timer = setTimeout(() => this.resubmitters.delete(database), 30_000).unref();
    const before = held.resubmitter.report();
    await held.resubmitter.add(entry);
    const after = held.resubmitter.report();
    const failed = after.failed.slice(before.failed.length);
    this.say(
      `${database}: safety-net entry ${entry.id} from a divergent tail: ${after.resubmitted - before.resubmitted} resubmitted, ${after.present - before.present} already present` +
        (failed.length > 0 ? `, ${failed.length} FAILED: ${failed.map((f) => `${f.address} ${f.message}`).join('; ')}` : ''),
    );
  }

  stop(): void {
    for (const held of this.resubmitters.values()) clearTimeout(held.timer);
    this.resubmitters.clear();
  }
}
