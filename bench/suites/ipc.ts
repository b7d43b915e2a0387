// The `ipc` suite: what the process model costs. Each database runs in its own worker process
// and front ends reach it over Node's IPC channel; this measures the same mailbox API calls
// through a worker ("quire", the real deployment) and on a database opened in this process
// ("in-process", the peer): a read round trip (pure IPC cost) and durable 256 B appends with
// 1 and 16 concurrent writers (IPC cost next to an fsync).

import { join } from 'node:path';
import { MailboxDatabase } from '../../engine/database.js';
import { nodeStorage, systemClock, systemPrng } from '../../engine/io.js';
import { openRocksKv } from '../../engine/state/rocks.js';
import { Supervisor } from '../../engine/supervisor.js';
import type { MailboxApi } from '../../engine/api.js';
import { driveWriters } from '../peers/driver.js';
import type { Suite, SuiteContext } from '../lib/suite.js';

const payload = new TextEncoder().encode(`Subject: ipc\r\n\r\n${'x'.repeat(220)}\r\n`);

async function roundTrips(api: MailboxApi, durationMs: number): Promise<number> {
  const started = performance.now();
  let calls = 0;
  while (performance.now() - started < durationMs) {
    await api.mailbox('m');
    calls += 1;
  }
  return calls / ((performance.now() - started) / 1000);
}

const suite: Suite = {
  name: 'ipc',
  description: 'mailbox API through a database worker process vs on a database in the same process',
  async run(ctx: SuiteContext) {
    const durationMs = ctx.quick ? 250 : 2000;
    const local = await MailboxDatabase.open({
      name: 'LOCAL',
      dir: await ctx.scratch('local'),
      storage: nodeStorage(),
      clock: systemClock(),
      prng: systemPrng(),
      openKv: openRocksKv,
    });
    const supervisor = new Supervisor({ copies: [{ database: 'IPC', server: 'BENCH', copy: 1, role: 'active', dir: join(await ctx.scratch('worker'), 'IPC') }] });
    await supervisor.start();
    const remote = supervisor.api('IPC');
    try {
      for (const api of [local, remote]) {
        const created = await api.commit({ mailboxId: 'm', ops: [{ op: 'createMailbox', address: 'bench@example.org', quotaBytes: null }] });
        if (!created.ok) throw new Error(created.message);
      }
      await ctx.compare({ call: 'mailbox read' }, {
        quire: async () => [{ metric: 'round trips', unit: 'calls/s', value: await roundTrips(remote, durationMs) }],
        'in-process': async () => [{ metric: 'round trips', unit: 'calls/s', value: await roundTrips(local, durationMs) }],
      });
      for (const writers of [1, 16]) {
        const append = (api: MailboxApi) => async () => {
          const result = await api.commit({ mailboxId: 'm', ops: [{ op: 'append', folder: 'INBOX', content: payload }] });
          if (!result.ok) throw new Error(result.message);
        };
        const sample = (api: MailboxApi) => async () => {
          const r = await driveWriters({ write: append(api), writers, payloadBytes: payload.length, durationMs, writesMax: 200_000 });
          return [
            { metric: 'durable appends', unit: 'appends/s', value: r.writesPerSec },
            { metric: 'append latency p50', unit: 'ms', value: r.latencyP50Ms },
          ];
        };
        await ctx.compare({ call: 'append 256 B', writers }, { quire: sample(remote), 'in-process': sample(local) });
      }
      ctx.note('quire = through the worker process (structured-clone IPC); in-process = the same MailboxDatabase opened in the bench process.');
    } finally {
      await supervisor.stop();
      await local.close();
    }
  },
};

export default suite;
