// A divergent copy: after a lossy failover (async mode, or a mount dial that allowed missing
// log), the old active copy's log holds batches past the point where the new active copy
// started writing: its own acknowledged writes that never reached any other copy. When it
// comes back it must not simply stop (it would need a reseed) nor keep those batches (they
// conflict with the new active's at the same positions). This file cuts such a log back to the
// common point and says what the cut-off part held, so the server can give the mail back from
// the transport safety net and report what it cannot (shared/EXCHANGE.md: Safety Net
// resubmission after a lossy failover).
//
// The common point is a batch boundary both logs share: the start of the first batch of the
// new active copy that differs (CRC32C) from this copy's own batch at that position, or, on one
// machine, the log end the new active copy was mounted at. The cut-off bytes are kept in
// `<database dir>/divergent/<copy dir>-<from>-<to>.qlog` with a JSON report beside them.

import { mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeEvent } from '../events/codec.js';
import { EventType } from '../events/types.js';
import { nodeStorage, systemClock } from '../io.js';
import { FlushMap, flushMapName } from '../log/flushmap.js';
import { TransactionLog, segmentSuffix } from '../log/log.js';
import { ShippingError } from './envelope.js';

/** A passive copy's log differs from the active copy's at `position` (a batch boundary of both). */
export class DivergentLogError extends ShippingError {
  constructor(message: string, readonly position: number) {
    super(message);
    this.name = 'DivergentLogError';
  }
}

/** A message the cut-off tail appended: a delivery (in the safety net) or a client's APPEND/COPY/MOVE. */
export interface LostAppend {
  readonly mailboxId: string;
  readonly folderId: number;
  /** Filled from the copy's state once it is reopened at the common point (or from the tail's FolderCreated). */
  folder: string | null;
  readonly uid: number;
  readonly internalDateMs: number;
  readonly sizeBytes: number;
}

export interface DivergentTail {
  readonly database: string;
  /** The copy whose log was cut, e.g. `DB01\MBX1#1`. */
  readonly copy: string;
  /** The common point: the cut-off bytes are [from, to). */
  readonly from: number;
  readonly to: number;
  readonly batches: number;
  readonly appends: LostAppend[];
  /** Messages whose flags the tail changed, messages it expunged, and every other event (folders, mailboxes...). */
  readonly flagChanges: number;
  readonly expunges: number;
  readonly otherEvents: number;
  /** Where the cut-off bytes were saved. */
  readonly savedTo: string;
  /** False when the log could not be cut (truncated below the common point): the copy needs a reseed. */
  readonly cut: boolean;
  /**
   * Whether clients may have been told OK for the tail's writes: true in async mode (answered
   * once durable on the active copy); false in sync mode, where nothing the transport did not
   * hold was ever answered (its senders retry, so giving it back would duplicate).
   */
  readonly acknowledged: boolean;
}

/**
 * Reads the copy's log past `position`, saves those bytes and a report beside the database, and
 * cuts the log back to `position` (whole segments past it removed, the one holding it truncated,
 * the flush map rewritten) and removes the copy's state store, which recorded the cut-off batches
 * (the worker rebuilds it from the log when it opens). The copy's worker must be stopped.
 * Returns null when the log does not reach past `position` (nothing diverges).
 * The log can be cut only while it still starts at 0 (the state is rebuilt by a replay from
 * zero); otherwise the tail is saved and reported, nothing is cut, and `cut` is false.
 */
export async function cutBackLog(database: string, copy: string, dir: string, position: number, acknowledged: boolean): Promise<DivergentTail | null> {
  const storage = nodeStorage();
  const logDir = join(dir, 'log');
  const log = await TransactionLog.open({ dir: logDir, storage, clock: systemClock() });
  const chunks: Uint8Array[] = [];
  const appends: LostAppend[] = [];
  const createdFolders = new Map<string, string>();
  let flagChanges = 0;
  let expunges = 0;
  let otherEvents = 0;
  let batches = 0;
  let to: number;
  let logStart: number;
  try {
    to = log.end;
    logStart = log.start;
    if (position >= to) return null;
    if (position < logStart) throw new Error(`${copy}: the common point ${position} is before its log's first kept position ${logStart}`);
    // read() verifies each batch (CRC32C and the position stamped in every record); a position
    // that is not a batch boundary of this log fails here, before anything is cut.
    for await (const batch of log.read(position)) {
      chunks.push(batch.bytes.slice());
      batches += 1;
      for (const record of batch.records) {
        const event = decodeEvent(record.type, record.version, record.payload);
        switch (event.type) {
          case EventType.MessageAppended:
            appends.push({ mailboxId: event.mailboxId, folderId: event.folderId, folder: createdFolders.get(`${event.mailboxId}/${event.folderId}`) ?? null, uid: event.uid, internalDateMs: event.internalDateMs, sizeBytes: event.sizeBytes });
            break;
          case EventType.FolderCreated:
            createdFolders.set(`${event.mailboxId}/${event.folderId}`, event.name);
            otherEvents += 1;
            break;
          case EventType.FlagsSet:
            flagChanges += event.items.length;
            break;
          case EventType.MessagesExpunged:
            expunges += event.items.length;
            break;
          case EventType.ContentStored:
            break;
          default:
            otherEvents += 1;
        }
      }
    }
  } finally {
    await log.close();
  }

  const saveDir = join(dirname(dir), 'divergent');
  await mkdir(saveDir, { recursive: true });
  const savedTo = join(saveDir, `${basename(dir)}-${position}-${to}.qlog`);
  const saved = await open(savedTo, 'w');
  try {
    for (const chunk of chunks) await saved.write(chunk);
    await saved.sync();
  } finally {
    await saved.close();
  }
  const cut = logStart === 0;
  const tail: DivergentTail = { database, copy, from: position, to, batches, appends, flagChanges, expunges, otherEvents, savedTo, cut, acknowledged };
  await writeFile(`${savedTo.slice(0, -'.qlog'.length)}.json`, JSON.stringify(tail, null, 2));
  await storage.syncDir(saveDir);
  if (!cut) return tail;

  // Cut: segments wholly past the common point go, the one holding it is truncated there.
  const names = (await readdir(logDir)).filter((n) => n.endsWith(segmentSuffix)).sort();
  const starts = names.map((n) => Number(n.slice(0, -segmentSuffix.length)));
  let kept = 0;
  for (let i = 0; i < names.length; i++) {
    const start = starts[i]!;
    if (start >= position && !(start === 0 && position === 0)) {
      await rm(join(logDir, names[i]!));
      continue;
    }
    kept += 1;
    const next = starts[i + 1];
    if (next === undefined || next > position) {
      const file = await open(join(logDir, names[i]!), 'r+');
      try {
        await file.truncate(position - start);
        await file.sync();
      } finally {
        await file.close();
      }
    }
  }
  await storage.syncDir(logDir);
  if (kept === 0) {
    await rm(join(logDir, flushMapName), { force: true });
  } else {
    // The flush map said the cut-off bytes were durable: it now says the log ends at the cut,
    // or recovery would take the shorter log for lost acknowledged bytes.
    const map = await FlushMap.open(storage, logDir);
    if (map !== null && map !== 'corrupt') {
      await map.mark(position);
      await map.close();
    }
  }
  // The state store and the content index snapshot recorded the cut-off batches: the worker
  // rebuilds both from the log.
  await rm(join(dir, 'state'), { recursive: true, force: true });
  await rm(join(dir, 'search'), { recursive: true, force: true });
  await storage.syncDir(dir);
  return tail;
}

/** One line for the operator: what the cut-off tail held. */
export function describeTail(tail: DivergentTail): string {
  return (
    `${tail.copy}: divergent log [${tail.from}, ${tail.to}) ${tail.cut ? 'cut off' : 'NOT cut (log truncated below the common point: reseed this copy)'}: ` +
    `${tail.batches} batches, ${tail.appends.length} messages appended, ${tail.flagChanges} flag changes, ${tail.expunges} expunges, ${tail.otherEvents} other changes; saved to ${tail.savedTo}`
  );
}
