// The last logs' frames (engine/replication/lastlogs.ts): what arrives in any chunking is what
// was sent; a damaged, misplaced, oversized or cut frame is refused with a clear error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { batchBytesMax } from '../constants.js';
import { encodeFrame, FrameReader, LastLogsFrameError } from './lastlogs.js';

const batches = [
  { start: 4096, bytes: new Uint8Array(randomBytes(1000)) },
  { start: 5096, bytes: new Uint8Array(randomBytes(70_000)) },
  { start: 75_096, bytes: new Uint8Array(randomBytes(1)) },
];
const stream = Buffer.concat(batches.map((b) => encodeFrame(b)));

test('frames read back the same batches whatever the chunking', () => {
  for (const size of [1, 7, 16, 17, 4096, stream.length]) {
    const reader = new FrameReader(4096);
    const got = [];
    for (let at = 0; at < stream.length; at += size) got.push(...reader.push(stream.subarray(at, at + size)));
    reader.finish();
    assert.deepEqual(got.map((b) => [b.start, Buffer.from(b.bytes).toString('hex')]), batches.map((b) => [b.start, Buffer.from(b.bytes).toString('hex')]), `chunks of ${size}`);
    assert.equal(reader.end, 75_097);
  }
});

test('a damaged byte, a gap, an oversized length or a cut stream is refused', () => {
  const damaged = Buffer.from(stream);
  damaged[16 + 500]! ^= 1;
  assert.throws(() => new FrameReader(4096).push(damaged), /the batch at 4096 arrived with CRC32C [0-9a-f]+, sent with [0-9a-f]+/);
  assert.throws(() => new FrameReader(0).push(stream), /a batch starts at 4096, the previous one ended at 0/);
  const huge = Buffer.from(stream.subarray(0, 16));
  huge.writeUInt32BE(batchBytesMax + 1, 8);
  assert.throws(() => new FrameReader(4096).push(huge), /a batch of \d+ bytes at 4096/);
  const empty = Buffer.from(stream.subarray(0, 16));
  empty.writeUInt32BE(0, 8);
  assert.throws(() => new FrameReader(4096).push(empty), LastLogsFrameError);
  const cut = new FrameReader(4096);
  assert.equal(cut.push(stream.subarray(0, stream.length - 1)).length, 2);
  assert.throws(() => cut.finish(), /the stream ended inside a frame \(at 75096\)/);
  // At the limit: a batch of exactly batchBytesMax is let through the length check (it waits for its bytes).
  const limit = Buffer.from(stream.subarray(0, 16));
  limit.writeUInt32BE(batchBytesMax, 8);
  assert.deepEqual(new FrameReader(4096).push(limit), []);
});
