// "Attempt copy last logs" between servers: the batches a failed active copy's log holds past
// the new active copy's end, read from its files and sent to the server activating another copy
// (server/peers.ts carries them over the admin API's HTTPS listener). On the wire each batch is
// one frame: its log position (8 bytes), its length (4), its CRC32C (4), then its bytes, all
// big-endian. The reader checks each frame's CRC32C and that it starts where the previous one
// ended; the supervisor then scans the bytes at their position (records' own CRC32C and
// positions, batchEnvelope) and requires the first to start at the copy's end.

import { join } from 'node:path';
import { crc32c } from '../checksum.js';
import { nodeStorage, systemClock } from '../io.js';
import { TransactionLog } from '../log/log.js';
import { batchBytesMax } from '../constants.js';

export interface LogBatch {
  readonly start: number;
  readonly bytes: Uint8Array;
}

const frameHeaderBytes = 16;

/** The batches of the log in `copyDir` from `from` to its end (verified as they are read). */
export async function* readLogTail(copyDir: string, from: number): AsyncGenerator<LogBatch> {
  const log = await TransactionLog.open({ dir: join(copyDir, 'log'), storage: nodeStorage(), clock: systemClock() });
  try {
    if (log.end <= from) return;
    for await (const batch of log.read(from)) yield { start: batch.start, bytes: batch.bytes.slice() };
  } finally {
    await log.close();
  }
}

export function encodeFrame(batch: LogBatch): Uint8Array {
  const frame = new Uint8Array(frameHeaderBytes + batch.bytes.length);
  const view = new DataView(frame.buffer);
  view.setBigUint64(0, BigInt(batch.start));
  view.setUint32(8, batch.bytes.length);
  view.setUint32(12, crc32c(batch.bytes));
  frame.set(batch.bytes, frameHeaderBytes);
  return frame;
}

export class LastLogsFrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LastLogsFrameError';
  }
}

/** Moves up to `length` bytes from the head of `chunks` into `into` (the chunks taken are removed); returns how many. */
export function takeBytes(chunks: Uint8Array[], into: Uint8Array, length: number): number {
  let filled = 0;
  while (filled < length && chunks.length > 0) {
    const head = chunks[0]!;
    const part = Math.min(head.length, length - filled);
    into.set(head.subarray(0, part), filled);
    filled += part;
    if (part === head.length) chunks.shift();
    else chunks[0] = head.subarray(part);
  }
  return filled;
}

/** Reads frames from a byte stream: each checked (CRC32C, length bound, continuity from `from`). */
export class FrameReader {
  /** Bytes received and not yet taken, as they came (joined only once a whole frame is there). */
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private header: { start: number; length: number; checksum: number } | null = null;
  private next: number;

  constructor(from: number) {
    this.next = from;
  }

  /** Where the next frame must start (the end of the last whole frame read). */
  get end(): number {
    return this.next;
  }

  private take(bytes: number): Uint8Array {
    const out = new Uint8Array(bytes);
    takeBytes(this.chunks, out, bytes);
    this.buffered -= bytes;
    return out;
  }

  push(chunk: Uint8Array): LogBatch[] {
    if (chunk.length > 0) this.chunks.push(chunk);
    this.buffered += chunk.length;
    const batches: LogBatch[] = [];
    for (;;) {
      if (this.header === null) {
        if (this.buffered < frameHeaderBytes) break;
        const view = new DataView(this.take(frameHeaderBytes).buffer);
        const start = Number(view.getBigUint64(0));
        const length = view.getUint32(8);
        if (start !== this.next) throw new LastLogsFrameError(`a batch starts at ${start}, the previous one ended at ${this.next}`);
        if (length === 0 || length > batchBytesMax) throw new LastLogsFrameError(`a batch of ${length} bytes at ${start}`);
        this.header = { start, length, checksum: view.getUint32(12) };
      }
      const { start, length, checksum } = this.header;
      if (this.buffered < length) break;
      const bytes = this.take(length);
      const actual = crc32c(bytes);
      if (actual !== checksum) throw new LastLogsFrameError(`the batch at ${start} arrived with CRC32C ${actual.toString(16)}, sent with ${checksum.toString(16)}`);
      batches.push({ start, bytes });
      this.next = start + length;
      this.header = null;
    }
    return batches;
  }

  /** The stream ended: a partial frame left over means it was cut. */
  finish(): void {
    if (this.header !== null || this.buffered > 0) throw new LastLogsFrameError(`the stream ended inside a frame (at ${this.next})`);
  }
}
