// The safety net: every message delivered to a mailbox is also kept, for a set time (two days
// by default), in a durable transport log under the data directory. After a lossy failover (a
// passive copy mounted without the last batches of the old active copy) the lost mail can be
// given back to the database: `resubmit` appends each kept message of a time range that is
// not already in its mailbox. Delivery waits for the entry to be durable before answering 250.
//
// Files: <data>/transport/safety-net/<bucketStartMs>.snet, one per hour of delivery time, so
// that pruning deletes whole files. Each file is a sequence of records:
//
//   0        4        8                   8+L
//   +--------+--------+-------------------+
//   | L u32  | crc32c | payload (L bytes) |     little-endian; crc32c over the payload
//   +--------+--------+-------------------+
//   payload: | H u32 | header JSON (H bytes, UTF-8) | content 0 | content 1 | ...
//   header:  { v: 2, id, timeMs, mailFrom, deliveries: [...], contentBytes: [n0, n1, ...] }
//
// v2: a delivery names the content it shares (contentIndex) and carries its own `prefix`
// (Return-Path, Delivered-To): its message is prefix + content, so a message for many
// recipients is kept once. v1 records (read still) held each recipient's whole bytes.
//
// Appends are group-committed: everything waiting is written with one write and one
// fdatasync per segment. The newest segment keeps zeros written ahead of its records
// (`safetyNetPreallocBytes`), so an append overwrites blocks the file has and its fdatasync
// commits no size change; a reader stops at the first zero frame (length 0). A torn tail (a
// crash during an append, never acknowledged) and the zeros ahead are cut at open (the zeros
// also when the segment stops being the newest, and at close); a reader stops at the first
// record that fails its checks.

import { constants } from 'node:fs';
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeStorage } from '../../engine/io.js';
import type { MailboxApi } from '../../engine/api.js';
import { crc32c } from '../../engine/checksum.js';
import { type SafetyNet, type SafetyNetDelivery, type SafetyNetEntry, deliveredMessage } from '../../protocols/smtp/types.js';
import { safetyNetPreallocBytes, safetyNetRecordBytesMax, safetyNetRetentionMsDefault, safetyNetSegmentMs } from './constants.js';

export const safetyNetDir = (dataDir: string): string => join(dataDir, 'transport', 'safety-net');
const segmentSuffix = '.snet';

export interface SafetyNetOptions {
  readonly dir: string;
  readonly nowMs: () => number;
  readonly retentionMs?: number;
}

interface Header {
  readonly v: 1 | 2;
  readonly id: string;
  readonly timeMs: number;
  readonly mailFrom: string;
  readonly deliveries: SafetyNetDelivery[];
  readonly contentBytes: number[];
}

/** One record's bytes, frame included. */
export function encodeEntry(entry: SafetyNetEntry): Uint8Array {
  const header: Header = { v: 2, id: entry.id, timeMs: entry.timeMs, mailFrom: entry.mailFrom, deliveries: [...entry.deliveries], contentBytes: entry.contents.map((c) => c.length) };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const payloadBytes = 4 + headerBytes.length + entry.contents.reduce((n, c) => n + c.length, 0);
  const out = Buffer.alloc(8 + payloadBytes);
  out.writeUInt32LE(payloadBytes, 0);
  out.writeUInt32LE(headerBytes.length, 8);
  headerBytes.copy(out, 12);
  let at = 12 + headerBytes.length;
  for (const content of entry.contents) {
    out.set(content, at);
    at += content.length;
  }
  out.writeUInt32LE(crc32c(out.subarray(8)) >>> 0, 4);
  return out;
}

/** Decodes one record made by encodeEntry (frame and checksum checked); null when it does not hold together. */
export function decodeEntry(bytes: Uint8Array): SafetyNetEntry | null {
  const record = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (record.length < 8 || record.readUInt32LE(0) !== record.length - 8) return null;
  const payload = record.subarray(8);
  if (crc32c(payload) >>> 0 !== record.readUInt32LE(4)) return null;
  return decodePayload(payload);
}

/** Decodes one payload (checksum already verified); null when it does not hold together. */
function decodePayload(payload: Buffer): SafetyNetEntry | null {
  try {
    const headerBytes = payload.readUInt32LE(0);
    if (4 + headerBytes > payload.length) return null;
    const header = JSON.parse(payload.subarray(4, 4 + headerBytes).toString('utf8')) as Header;
    if (header.v !== 1 && header.v !== 2) return null;
    const contents: Uint8Array[] = [];
    let at = 4 + headerBytes;
    for (const n of header.contentBytes) {
      if (at + n > payload.length) return null;
      contents.push(new Uint8Array(payload.subarray(at, at + n)));
      at += n;
    }
    if (at !== payload.length) return null;
    return { id: header.id, timeMs: header.timeMs, mailFrom: header.mailFrom, deliveries: header.deliveries, contents };
  } catch {
    return null;
  }
}

/** Reads a segment's valid records; `end` is where the valid prefix stops. */
async function readSegment(path: string, visit: (entry: SafetyNetEntry) => Promise<void> | void): Promise<{ end: number; size: number }> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const frame = Buffer.alloc(8);
    let at = 0;
    while (at + 8 <= size) {
      await handle.read(frame, 0, 8, at);
      const length = frame.readUInt32LE(0);
      if (length < 4 || length > safetyNetRecordBytesMax || at + 8 + length > size) break;
      const payload = Buffer.alloc(length);
      await handle.read(payload, 0, length, at + 8);
      if (crc32c(payload) >>> 0 !== frame.readUInt32LE(4)) break;
      const entry = decodePayload(payload);
      if (entry === null) break;
      await visit(entry);
      at += 8 + length;
    }
    return { end: at, size };
  } finally {
    await handle.close();
  }
}

function bucketOf(timeMs: number): number {
  return Math.floor(timeMs / safetyNetSegmentMs) * safetyNetSegmentMs;
}

/** The names in a directory; none when it does not exist (yet). */
export async function namesIn(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

async function segments(dir: string): Promise<number[]> {
  const names = await namesIn(dir);
  return names.filter((n) => n.endsWith(segmentSuffix) && /^\d+$/.test(n.slice(0, -segmentSuffix.length))).map((n) => Number(n.slice(0, -segmentSuffix.length))).sort((a, b) => a - b);
}

const segmentPath = (dir: string, bucket: number): string => join(dir, `${bucket}${segmentSuffix}`);


interface Segment {
  readonly bucket: number;
  readonly handle: FileHandle;
  end: number;
  allocated: number;
}

export class FileSafetyNet implements SafetyNet {
  private readonly pending: Array<{ bucket: number; bytes: Uint8Array; resolve: () => void; reject: (error: Error) => void }> = [];
  private flushing = false;
  /** The newest segment, kept open: where its records end, and how far zeros are written ahead of them. */
  private current: Segment | null = null;
  private broken: Error | null = null;
  private closed = false;
  readonly retentionMs: number;

  private constructor(private readonly options: SafetyNetOptions) {
    this.retentionMs = options.retentionMs ?? safetyNetRetentionMsDefault;
  }

  /** Opens the safety net in `dir`, cutting a torn tail of each segment left by a crash. */
  static async open(options: SafetyNetOptions): Promise<FileSafetyNet> {
    await mkdir(options.dir, { recursive: true });
    for (const bucket of await segments(options.dir)) {
      const path = segmentPath(options.dir, bucket);
      const { end, size } = await readSegment(path, () => undefined);
      if (end < size) {
        const handle = await open(path, 'r+');
        try {
          await handle.truncate(end);
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
    }
    const net = new FileSafetyNet(options);
    await net.prune();
    return net;
  }

  keep(entry: SafetyNetEntry): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the safety net is closed'));
    if (this.broken !== null) return Promise.reject(this.broken);
    const bytes = encodeEntry(entry);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ bucket: bucketOf(entry.timeMs), bytes, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  /** Group commit: one write and one fdatasync per segment for everything waiting. */
  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        const buckets = [...new Set(batch.map((p) => p.bucket))].sort((a, b) => a - b);
        for (const bucket of buckets) {
          const items = batch.filter((p) => p.bucket === bucket);
          try {
            if (this.broken !== null) throw this.broken;
            const segment = await this.segmentFor(bucket);
            const bytes = Buffer.concat(items.map((p) => p.bytes));
            const end = segment.end + bytes.length;
            if (segment === this.current && end > segment.allocated) {
              // Zeros ahead of the records (synced with these): the next appends overwrite blocks
              // the file has, so their fdatasync commits no size change (no journal commit). A
              // reader stops at the first zero frame; open and close cut them.
              const to = end + safetyNetPreallocBytes;
              await segment.handle.write(Buffer.alloc(to - end), 0, to - end, end);
              segment.allocated = to;
            }
            try {
              await segment.handle.write(bytes, 0, bytes.length, segment.end);
              await segment.handle.datasync();
              segment.end = end;
            } finally {
              if (segment !== this.current) await segment.handle.close();
            }
            for (const item of items) item.resolve();
          } catch (error) {
            // A failed write or fsync leaves the file in an unknown state: refuse from here on (like the engine's log).
            this.broken ??= new Error(`safety net write failed: ${(error as Error).message}`);
            for (const item of items) item.reject(this.broken);
          }
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** The segment of a bucket: the current one, a newer one (which becomes current), or an older one opened for one batch (closed after it). */
  private async segmentFor(bucket: number): Promise<Segment> {
    if (this.current?.bucket === bucket) return this.current;
    const path = segmentPath(this.options.dir, bucket);
    const handle = await open(path, constants.O_RDWR | constants.O_CREAT);
    await nodeStorage().syncDir(this.options.dir);
    // No segment but the current one has zeros ahead (open and leaving `current` cut them): its size is its end.
    const size = (await handle.stat()).size;
    const segment: Segment = { bucket, handle, end: size, allocated: size };
    // Keep the newest segment open; an older one (a clock step back) is opened for one batch.
    if (this.current === null || bucket > this.current.bucket) {
      await this.release();
      this.current = segment;
    }
    return segment;
  }

  /** Cuts the current segment's zeros ahead and closes it. */
  private async release(): Promise<void> {
    const segment = this.current;
    if (segment === null) return;
    this.current = null;
    try {
      if (segment.allocated > segment.end && this.broken === null) {
        await segment.handle.truncate(segment.end);
        await segment.handle.datasync();
      }
    } finally {
      await segment.handle.close();
    }
  }


  /** Deletes the segments whose whole hour is older than the retention time; returns how many. */
  async prune(): Promise<number> {
    const cutoff = this.options.nowMs() - this.retentionMs;
    let removed = 0;
    for (const bucket of await segments(this.options.dir)) {
      if (bucket + safetyNetSegmentMs > cutoff || this.current?.bucket === bucket) continue;
      await rm(segmentPath(this.options.dir, bucket), { force: true });
      removed++;
    }
    if (removed > 0) await nodeStorage().syncDir(this.options.dir);
    return removed;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((resolve) => setImmediate(resolve));
    await this.release();
  }
}

/** Every kept entry delivered in [fromMs, toMs], oldest segment first. */
export async function readSafetyNet(dir: string, fromMs: number, toMs: number, visit: (entry: SafetyNetEntry) => Promise<void> | void): Promise<void> {
  for (const bucket of await segments(dir)) {
    if (bucket + safetyNetSegmentMs <= fromMs || bucket > toMs) continue;
    await readSegment(segmentPath(dir, bucket), async (entry) => {
      if (entry.timeMs >= fromMs && entry.timeMs <= toMs) await visit(entry);
    });
  }
}

export interface ResubmitOptions {
  /** The safety net directory: safetyNetDir(dataDir). */
  readonly dir: string;
  /** Delivery times to resubmit, inclusive. */
  readonly fromMs: number;
  readonly toMs: number;
  /** Only deliveries to mailboxes of this database. */
  readonly database: string;
  /** The database's mailbox API (the new active copy). */
  readonly api: MailboxApi;
}

export interface ResubmitReport {
  /** Deliveries to the database found in the range. */
  readonly examined: number;
  /** Appended again to INBOX. */
  readonly resubmitted: number;
  /** Already in the mailbox (some folder holds a message with the same internal date and size). */
  readonly present: number;
  readonly failed: Array<{ readonly id: string; readonly address: string; readonly message: string }>;
}

/**
 * Gives a database back the mail of a time range: every delivery kept by the safety net for
 * a mailbox of `database`, delivered between fromMs and toMs, is appended to that mailbox's
 * INBOX unless the mailbox already holds it. "Already holds" means a message in any folder
 * with the same internal date (the delivery time, stamped by the transport) and size, so
 * running it twice, or over a range the database did not lose, appends nothing.
 */
export async function resubmit(options: ResubmitOptions): Promise<ResubmitReport> {
  const resubmitter = new Resubmitter(options.database, options.api);
  await readSafetyNet(options.dir, options.fromMs, options.toMs, (entry) => resubmitter.add(entry));
  return resubmitter.report();
}

/**
 * Appends kept entries to their mailboxes of one database unless already there (resubmit's
 * work, one entry at a time: also what the server holding the active copy does with entries
 * another server handed over after cutting a divergent log).
 */
export class Resubmitter {
  private readonly known = new Map<string, Set<string> | null>();
  private examined = 0;
  private resubmitted = 0;
  private present = 0;
  private readonly failed: Array<{ id: string; address: string; message: string }> = [];

  constructor(private readonly database: string, private readonly api: MailboxApi) {}

  private async holdings(mailboxId: string): Promise<Set<string> | null> {
    if (this.known.has(mailboxId)) return this.known.get(mailboxId)!;
    const folders = await this.api.folders(mailboxId);
    let set: Set<string> | null = null;
    if (folders.ok) {
      set = new Set();
      for (const folder of folders.value) {
        const listing = await this.api.listMessages(mailboxId, folder.name);
        if (listing.ok) for (const m of listing.value.messages) set.add(`${m.internalDateMs}:${m.sizeBytes}`);
      }
    }
    this.known.set(mailboxId, set);
    return set;
  }

  async add(entry: SafetyNetEntry): Promise<void> {
    for (const delivery of entry.deliveries) {
      if (delivery.database !== this.database) continue;
      this.examined++;
      const { prefix, content, sizeBytes } = deliveredMessage(entry, delivery);
      const set = await this.holdings(delivery.mailboxId);
      if (set === null) {
        this.failed.push({ id: entry.id, address: delivery.address, message: 'the mailbox cannot be read' });
        continue;
      }
      const key = `${entry.timeMs}:${sizeBytes}`;
      if (set.has(key)) {
        this.present++;
        continue;
      }
      const committed = await this.api.commit({ mailboxId: delivery.mailboxId, ops: [{ op: 'append', folder: delivery.folder ?? 'INBOX', content, prefix, internalDateMs: entry.timeMs }] });
      if (committed.ok) {
        set.add(key);
        this.resubmitted++;
      } else this.failed.push({ id: entry.id, address: delivery.address, message: `${committed.code}: ${committed.message}` });
    }
  }

  report(): ResubmitReport {
    return { examined: this.examined, resubmitted: this.resubmitted, present: this.present, failed: [...this.failed] };
  }
}
