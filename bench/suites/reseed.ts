// The `reseed` suite: what a passive copy's deep checkpoint buys, and whether a reseed copies
// at disk speed.
//  - passive replay: a passive copy replays the same received log batch by batch, with the
//    deep passive checkpoint (state written once per 8 MiB, "quire") and with the state
//    written after every batch ("depth 0", what passive copies did before);
//  - reseed copy: the files of a snapshot of a database (MailboxDatabase.snapshot) copied,
//    each chunk read back from the disk and compared (engine/replication/seed.ts, "quire"),
//    against a plain copy of the same files with fs.copyFile and one fsync each ("cp": durable,
//    unverified), the same plus each file read back from the disk and compared ("cp+verify": the
//    guarantee a reseed gives, the fair peer), and dd with O_DIRECT writes ("dd direct"); then the
//    same over larger files (two 64 MiB log segments and eight 8 MiB SST-sized files, random
//    bytes; quick: a quarter), where a fsync stall of the shared machine weighs less; plus the
//    time writes were held while the snapshot was taken.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MailboxDatabase } from '../../engine/database.js';
import { nodeStorage, seededPrng, systemClock } from '../../engine/io.js';
import { checkpointDepthBytesPassive } from '../../engine/constants.js';
import { copySnapshot, type SnapshotFile } from '../../engine/replication/seed.js';
import { openRocksKv } from '../../engine/state/rocks.js';
import type { Suite, SuiteContext } from '../lib/suite.js';

const open_ = (dir: string, role: 'active' | 'passive', checkpointDepthBytes?: number) =>
  MailboxDatabase.open({
    name: 'DB01',
    dir,
    role,
    storage: nodeStorage(),
    clock: systemClock(),
    prng: seededPrng(11),
    openKv: openRocksKv,
    diskFreeBytesMin: 0,
    ...(checkpointDepthBytes === undefined ? {} : { checkpointDepthBytes }),
  });

/** Words for message bodies: text a content index sees in mail (random bytes would be a worst case for it). */
const vocabulary = Array.from({ length: 2000 }, (_, i) => `w${(i * 7919) % 100_003}${'abcdefghij'[i % 10]}`);

/** An active database with `messages` appends of ~2 KB of text (8 concurrent writers, so batches hold several). */
async function populate(dir: string, messages: number): Promise<MailboxDatabase> {
  const db = await open_(dir, 'active');
  const created = await db.commit({ mailboxId: 'm', ops: [{ op: 'createMailbox', address: 'bench@example.org', quotaBytes: null }] });
  if (!created.ok) throw new Error(created.message);
  const prng = seededPrng(3);
  for (let i = 0; i < messages; i += 8) {
    await Promise.all(
      Array.from({ length: 8 }, async (_, j) => {
        const words = Array.from({ length: 300 }, () => vocabulary[prng.below(vocabulary.length)]).join(' ');
        const text = `Subject: ${i + j}\r\n\r\n${words.replace(/(.{70}) /g, '$1\r\n')}\r\n`;
        const r = await db.commit({ mailboxId: 'm', ops: [{ op: 'append', folder: 'INBOX', content: new TextEncoder().encode(text) }] });
        if (!r.ok) throw new Error(r.message);
      }),
    );
  }
  return db;
}

/**
 * The peers of the reseed copy: `cp` is fs.copyFile (copy_file_range: the kernel copies through
 * the page cache, no user-space copy) and one fsync per file: a durable copy nobody checked.
 * `cp+verify` adds what a reseed guarantees: each file read back from the disk (O_DIRECT, not the
 * pages just written) and compared with the source. (`dd direct`, below: dd oflag=direct
 * conv=fsync per file, the same writes as Quire's without the check.)
 */
function plainCopy(ctx: SuiteContext, from: string, list: readonly SnapshotFile[], total: number, verify: boolean): () => Promise<Array<{ metric: string; unit: string; value: number }>> {
  return async () => {
    const target = await ctx.scratch(`cp-${Math.random().toString(36).slice(2)}`);
    const chunk = 4 * 1024 * 1024;
    const back = Buffer.from(new WebAssembly.Memory({ initial: chunk / 65536 }).buffer, 0, chunk);
    const want = Buffer.alloc(chunk);
    const started = performance.now();
    for (const f of list) {
      const to = join(target, f.path);
      await mkdir(dirname(to), { recursive: true });
      await copyFile(join(from, f.path), to);
      const handle = await open(to, 'r+');
      await handle.sync().finally(() => handle.close());
      if (!verify) continue;
      const disk = await open(to, constants.O_RDONLY | constants.O_DIRECT);
      const source = await open(join(from, f.path), 'r');
      try {
        for (let position = 0; position < f.bytes; position += chunk) {
          const length = Math.min(chunk, f.bytes - position);
          await source.read(want, 0, length, position);
          await disk.read(back, 0, Math.ceil(length / 4096) * 4096, position);
          if (!back.subarray(0, length).equals(want.subarray(0, length))) throw new Error(`${f.path}: cp wrote different bytes`);
        }
      } finally {
        await Promise.all([disk.close(), source.close()]);
      }
    }
    const ms = performance.now() - started;
    await rm(target, { recursive: true, force: true });
    return [{ metric: 'copy', unit: 'MB/s', value: total / 1e6 / (ms / 1000) }];
  };
}

const suite: Suite = {
  name: 'reseed',
  description: 'passive replay with the deep passive checkpoint vs state written per batch; reseed copy rate vs a plain file copy',
  async run(ctx: SuiteContext) {
    const messages = ctx.quick ? 400 : 4000;
    const active = await populate(await ctx.scratch('active'), messages);
    try {
      const batches: Array<{ start: number; bytes: Uint8Array }> = [];
      for await (const batch of active.transactionLog().read(0)) batches.push({ start: batch.start, bytes: batch.bytes.slice() });
      const logBytes = batches.reduce((sum, b) => sum + b.bytes.length, 0);
      ctx.log(`${batches.length} batches, ${logBytes} bytes of log`);

      const replay = (depth: number) => async () => {
        const passive = await open_(await ctx.scratch(`passive-${depth}-${Math.random().toString(36).slice(2)}`), 'passive', depth);
        try {
          // Received first (append + fsync, the same for both), then replayed batch by batch as a current copy does.
          for (const b of batches) await passive.receiveBatch(b.bytes, b.start, 0);
          const started = performance.now();
          for (const b of batches) await passive.playForward(b.start + b.bytes.length, { boundary: true });
          const seconds = (performance.now() - started) / 1000;
          return [
            { metric: 'replay', unit: 'batches/s', value: batches.length / seconds },
            { metric: 'replay bytes', unit: 'MB/s', value: logBytes / 1e6 / seconds },
          ];
        } finally {
          await passive.close();
        }
      };
      await ctx.compare({ phase: 'passive replay', batches: batches.length }, { quire: replay(checkpointDepthBytesPassive), 'depth 0': replay(0) });

      const snapshotDir = await ctx.scratch('snapshot');
      const taken = await active.snapshot(snapshotDir);
      if (!taken.ok) throw new Error(taken.message);
      const files = taken.value.files;
      const bytes = files.reduce((sum, f) => sum + f.bytes, 0);
      ctx.log(`snapshot: ${files.length} files, ${bytes} bytes; writes held ${taken.value.pauseMs.toFixed(1)} ms`);
      await ctx.compare({ phase: 'snapshot', bytes }, {
        quire: async () => {
          const again = await active.snapshot(await ctx.scratch(`snap-${Math.random().toString(36).slice(2)}`));
          if (!again.ok) throw new Error(again.message);
          return [{ metric: 'writes held', unit: 'ms', value: again.value.pauseMs }];
        },
      });
      const copies = async (phase: string, from: string, list: SnapshotFile[]): Promise<void> => {
        const total = list.reduce((sum, f) => sum + f.bytes, 0);
        await ctx.compare({ phase, bytes: total }, {
          quire: async () => {
            const target = await ctx.scratch(`seed-${Math.random().toString(36).slice(2)}`);
            const result = await copySnapshot(from, target, list, { source: 'bench' });
            await rm(target, { recursive: true, force: true });
            return [{ metric: 'copy', unit: 'MB/s', value: total / 1e6 / (result.ms / 1000) }];
          },
          cp: plainCopy(ctx, from, list, total, false),
          'cp+verify': plainCopy(ctx, from, list, total, true),
          'dd direct': async () => {
            const target = await ctx.scratch(`dd-${Math.random().toString(36).slice(2)}`);
            const started = performance.now();
            for (const f of list) {
              const to = join(target, f.path);
              await mkdir(dirname(to), { recursive: true });
              const run = spawnSync('dd', [`if=${join(from, f.path)}`, `of=${to}`, 'bs=4M', 'oflag=direct', 'conv=fsync', 'status=none']);
              if (run.status !== 0) throw new Error(`dd: ${run.stderr.toString()}`);
            }
            const ms = performance.now() - started;
            await rm(target, { recursive: true, force: true });
            return [{ metric: 'copy', unit: 'MB/s', value: total / 1e6 / (ms / 1000) }];
          },
        });
      };
      await copies('reseed copy', snapshotDir, [...files]);
      const large = await ctx.scratch('large');
      const mib = 1024 * 1024;
      const scale = ctx.quick ? 4 : 1;
      const synthetic: SnapshotFile[] = [
        ...[0, 1].map((i) => ({ path: `log/${String(i).padStart(20, '0')}.qlog`, bytes: (64 * mib) / scale })),
        ...Array.from({ length: 8 }, (_, i) => ({ path: `state/${String(i + 10).padStart(6, '0')}.sst`, bytes: (8 * mib) / scale + 4321 })),
      ];
      for (const f of synthetic) {
        await mkdir(dirname(join(large, f.path)), { recursive: true });
        await writeFile(join(large, f.path), randomBytes(f.bytes));
      }
      await copies('reseed copy, large files', large, synthetic);
    } finally {
      await active.close();
    }
  },
};

export default suite;
