// The `failover` suite: how long a database is unavailable after kill -9 of its active copy's
// worker under a sync-mode write load, and what that costs in acknowledged mail (it must be
// nothing). Subjects: "quire" fails over to the passive copy at once (restartsBeforeFailover 0);
// the peer "restart" recovers the same copy in place (the supervisor restarts the worker, which
// replays its log), the way a single-copy server would. Per sample, several kill cycles; the
// figures are each sample's p50 and p99 of "time to serve again" (from the kill to the first
// append started after it that is acknowledged), plus the passive copy's replication lag under
// the same load. Embedded transport always; Kafka (real broker and registry through
// scripts/services) in full runs.

import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { kafka, schemaRegistry, type KafkaHandle, type RegistryHandle } from '../../scripts/services/services.js';
import { KafkaTransport } from '../../engine/replication/kafka.js';
import { append, checkAcknowledged, createMailbox, until } from '../../engine/replication/testing.js';
import { Supervisor } from '../../engine/supervisor.js';
import type { ShippingTransport } from '../../engine/replication/transport.js';
import { percentile } from '../lib/stats.js';
import type { Reading, Suite, SuiteContext } from '../lib/suite.js';

const writers = 8;

interface CycleResult {
  serveAgainMs: number[];
  lagMs: number[];
  lost: number;
  acknowledged: number;
}

async function killCycles(ctx: SuiteContext, transport: () => ShippingTransport | undefined, failover: boolean, cycles: number, loadMs: number): Promise<CycleResult> {
  const dir = await ctx.scratch(`cycles-${failover ? 'failover' : 'restart'}`);
  const supervisor = new Supervisor({
    ...(transport() === undefined ? {} : { transport: transport()! }),
    durability: 'sync',
    restartsBeforeFailover: failover ? 0 : 1_000_000,
    restartDelayMsMax: 100,
    copies: [
      { database: 'FO', server: 'MBX1', copy: 1, role: 'active', dir: join(dir, 'MBX1-1') },
      { database: 'FO', server: 'MBX2', copy: 1, role: 'passive', dir: join(dir, 'MBX2-1') },
    ],
  });
  const result: CycleResult = { serveAgainMs: [], lagMs: [], lost: 0, acknowledged: 0 };
  try {
    await supervisor.start();
    await until(async () => (await supervisor.list()).every((c) => c.state === 'Mounted' || c.state === 'Healthy'), 60_000, 'copies up');
    const api = supervisor.api('FO');
    await createMailbox(api, 'm', 'bench@example.org');
    const acknowledged = new Map<number, string>();
    let killedAt = Infinity;
    let servedAgainAt = Infinity;
    let stop = false;
    let n = 0;
    const load = Array.from({ length: writers }, async () => {
      while (!stop) {
        const started = performance.now();
        const body = `Subject: failover ${n++}\r\n\r\n${'f'.repeat(200)}\r\n`;
        const r = await append(api, 'm', body);
        if ('uid' in r) {
          acknowledged.set(r.uid, body);
          if (started > killedAt && servedAgainAt === Infinity) servedAgainAt = performance.now();
        } else if (r.code !== 'DATABASE_UNAVAILABLE') throw new Error(`${r.code}: ${r.message}`);
        else await new Promise((resolve) => setImmediate(resolve));
      }
    });
    for (let cycle = 0; cycle < cycles; cycle++) {
      const loadEnd = performance.now() + loadMs;
      while (performance.now() < loadEnd) {
        const passive = (await supervisor.list()).find((c) => c.role === 'passive' && c.state === 'Healthy');
        if (passive !== undefined) result.lagMs.push(passive.replayLagMs);
        await new Promise((r) => setTimeout(r, 20));
      }
      const active = (await supervisor.list()).find((c) => c.role === 'active' && c.state === 'Mounted');
      if (active?.pid == null) throw new Error('no mounted active copy to kill');
      servedAgainAt = Infinity;
      killedAt = performance.now();
      process.kill(active.pid, 'SIGKILL');
      await until(() => servedAgainAt !== Infinity, 60_000, 'the database to serve again');
      result.serveAgainMs.push(servedAgainAt - killedAt);
      killedAt = Infinity;
      if (failover) {
        // The killed copy rejoins as a passive copy, so the next cycle can fail over back to it.
        await supervisor.resume('FO', active.server, active.copy);
        await until(async () => (await supervisor.list()).some((c) => c.role === 'passive' && c.state === 'Healthy'), 60_000, 'the old copy to rejoin');
      }
    }
    stop = true;
    await Promise.all(load);
    const check = await checkAcknowledged(api, 'm', acknowledged);
    result.lost = check.missing.length + check.wrong.length;
    result.acknowledged = acknowledged.size;
  } finally {
    await supervisor.stop();
  }
  return result;
}

function readings(r: CycleResult): Reading[] {
  const out: Reading[] = [
    { metric: 'time to serve again p50', unit: 'ms', value: percentile(r.serveAgainMs, 50) },
    { metric: 'time to serve again p99', unit: 'ms', value: percentile(r.serveAgainMs, 99) },
    { metric: 'acknowledged appends lost', unit: 'appends', value: r.lost },
  ];
  if (r.lagMs.length > 0) out.push({ metric: 'replication lag p99', unit: 'ms', value: percentile(r.lagMs, 99) });
  return out;
}

const suite: Suite = {
  name: 'failover',
  description: 'kill -9 of the active copy under sync load: time to serve again, failover to the passive copy vs restart in place; replication lag',
  chartMetrics: ['time to serve again p50', 'time to serve again p99'],
  async run(ctx) {
    const cycles = ctx.quick ? 2 : 10;
    const loadMs = ctx.quick ? 300 : 1000;
    let lost = 0;
    const sample = (transport: () => ShippingTransport | undefined, failover: boolean) => async () => {
      const r = await killCycles(ctx, transport, failover, cycles, loadMs);
      lost += r.lost;
      return readings(r);
    };
    await ctx.compare({ transport: 'embedded', writers, cycles }, { quire: sample(() => undefined, true), restart: sample(() => undefined, false) });
    if (!ctx.quick) {
      let broker: KafkaHandle | undefined;
      let registry: RegistryHandle | undefined;
      try {
        [broker, registry] = await Promise.all([kafka.start(), schemaRegistry.start()]);
        let run = 0;
        const shipping = () => new KafkaTransport({ brokers: [broker!.bootstrap], registryUrl: registry!.url, prefix: `bench-${process.pid}-${++run}` });
        await ctx.compare({ transport: 'kafka', writers, cycles }, { quire: sample(shipping, true), restart: sample(shipping, false) });
      } finally {
        await Promise.all([broker?.stop(), registry?.stop()]);
      }
    } else {
      ctx.note('quick mode: the Kafka transport is not measured (it needs the broker and registry started; full runs do).');
    }
    ctx.note(`quire = immediate failover to the passive copy (restartsBeforeFailover 0); restart = the same copy restarted in place (restart delay 100 ms); both with sync durability, ${writers} writers of 200 B appends.`);
    ctx.note('time to serve again = from kill -9 of the active worker to the first append started after the kill that is acknowledged; p50/p99 over the cycles of one sample.');
    if (lost > 0) throw new Error(`${lost} acknowledged appends were lost across the samples`);
  },
};

export default suite;
