// What a failover costs the content index (not a suite: no peer, no ratio). An active and a
// passive copy of one database in this process (real log, RocksDB, files); N bench deliveries
// (`seededMessage`) are committed on the active copy in batches of 20 and shipped to the
// passive one, which indexes them either when its replay is quiet (`idle`, the default) or never
// before it is promoted (`never`: the alternative of deferring all passive indexing to the
// activation). Then the passive copy is promoted and asked a TEXT search over the folder: the
// time to that first answer, the CPU from the promotion until the index has caught up, and the
// CPU the passive copy spent indexing before the failover (in the background, while idle).
//
//   npm run build && node dist/bench/tools/indexfailover.js [messages=3000] [idle|never ...]
//
// Figures from a shared machine swing by 2-5x between runs: compare the lines of one run.

import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MailboxDatabase } from '../../engine/database.js';
import { nodeStorage, seededPrng, systemClock } from '../../engine/io.js';
import { openRocksKv } from '../../engine/state/rocks.js';
import { begin } from '../../engine/api.js';
import { seededMessage } from '../peers/mail.js';

const messages = Number(process.argv[2] ?? 3000);
const modes = process.argv.length > 3 ? process.argv.slice(3) : ['idle', 'never'];
const cpuMs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};
const fmt = (n: number): string => n.toFixed(0);
// Two word runs: answered by the index alone when the contents are indexed (engine/search/README.md), verified one by one when not.
const query = { key: 'text', value: 'release line' } as const;

console.log(`${messages} messages, load average ${loadavg()[0]!.toFixed(1)}`);
for (const mode of modes) {
  const root = mkdtempSync(join(tmpdir(), 'quire-indexfailover-'));
  try {
    const open = (name: string, role: 'active' | 'passive') =>
      MailboxDatabase.open({
        name: 'DB01', dir: join(root, name), role, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(1), openKv: openRocksKv,
        ...(role === 'passive' && mode === 'never' ? { indexing: { idleMs: Infinity, lagMsMax: Infinity } } : {}),
      });
    const active = await open('active', 'active');
    const passive = await open('passive', 'passive');
    await passive.startIndexing();
    if (!(await active.commit({ mailboxId: 'u', ops: [{ op: 'createMailbox', address: 'u@example.org', quotaBytes: null }] })).ok) throw new Error('createMailbox');
    let shipped = 0;
    const ship = async (): Promise<void> => {
      for await (const batch of active.transactionLog().read(shipped)) {
        await passive.receiveBatch(batch.bytes, batch.start);
        shipped = batch.end;
      }
    };
    const replayCpu = process.cpuUsage();
    for (let n = 0; n < messages; n += 20) {
      const tx = begin(active, 'u');
      for (let k = n; k < Math.min(messages, n + 20); k++) tx.append('INBOX', seededMessage(0x5e11, k));
      if (!(await tx.commit()).ok) throw new Error('append');
      await ship();
    }
    await active.indexSettled();
    const deliveredCpuMs = cpuMs(replayCpu);
    // The passive copy's indexing while idle (mode idle; nothing in mode never).
    const idleCpu = process.cpuUsage();
    const idleStart = performance.now();
    if (mode === 'idle') await passive.indexSettled();
    const idleCpuMs = cpuMs(idleCpu);
    const idleWallMs = performance.now() - idleStart;
    const before = passive.status().searchIndex;

    const failoverCpu = process.cpuUsage();
    const failoverStart = performance.now();
    await passive.promote();
    const promotedMs = performance.now() - failoverStart;
    const found = await passive.search('u', 'INBOX', query);
    const firstAnswerMs = performance.now() - failoverStart;
    if (!found.ok) throw new Error(found.message);
    await passive.indexSettled();
    const caughtUpMs = performance.now() - failoverStart;
    const activationCpuMs = cpuMs(failoverCpu);
    const expected = await active.search('u', 'INBOX', query);
    if (!expected.ok || JSON.stringify(expected.value) !== JSON.stringify(found.value)) throw new Error('the promoted copy answered otherwise than the active one');
    const after = passive.status().searchIndex;
    console.log(
      `${mode}: before the failover ${before.documents} indexed, ${before.backlogDocuments} waiting` +
        ` | delivery+replay CPU ${fmt(deliveredCpuMs)} ms, passive idle indexing CPU ${fmt(idleCpuMs)} ms (${fmt(idleWallMs)} ms wall)` +
        ` | promoted in ${fmt(promotedMs)} ms, first TEXT search answer ${fmt(firstAnswerMs)} ms after the promotion began (${found.value.length} hits), index caught up after ${fmt(caughtUpMs)} ms, activation CPU ${fmt(activationCpuMs)} ms` +
        ` | after: ${after.documents} indexed, ${after.backlogDocuments} waiting`,
    );
    await passive.close();
    await active.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
