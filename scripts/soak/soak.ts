// The soak of issue 5's proof: three `quire start` servers on loopback with Kafka (KRaft), the
// schema registry and OpenLDAP (scripts/services), continuous LMTP delivery and IMAP load
// (SELECT, FETCH, APPEND) against the server holding DB01's active copy; then, each iteration,
// kill -9 of that server's whole process group, the time until an IMAP client can LOGIN and
// SELECT INBOX on the new active copy's server, and the acknowledged messages (LMTP 250s and
// APPEND OKs) missing there, which must be 0 in sync mode every time. The killed server is
// restarted (it rejoins passive and catches up) before the next iteration.
//
//   npm run soak -- [--iterations 20] [--durability sync|async] [--load-ms 3000]
//
// Prints one line per iteration and the distribution (p50/p90/p99/max of the time to SELECT,
// missing counts); exits 1 if anything acknowledged went missing in sync mode or a server did
// not shut down cleanly. CI runs a short version (scripts/soak/soak.test.ts).

import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { percentile } from '../../bench/lib/stats.js';
import { canSelect, closeQuietly, Cluster, deliver, imapClient, subjects, user } from './cluster.js';

export interface SoakOptions {
  readonly iterations: number;
  readonly durability: 'sync' | 'async';
  /** Load before each kill. */
  readonly loadMs: number;
  readonly log: (line: string) => void;
}

export interface Iteration {
  readonly killed: string;
  readonly newActive: string;
  /** From kill -9 to the first LOGIN + SELECT INBOX that succeeds on another server. */
  readonly selectMs: number;
  /** Acknowledged (LMTP 250 or APPEND OK) before the check. */
  readonly acknowledged: number;
  readonly missing: number;
}

export interface SoakResult {
  readonly iterations: Iteration[];
  /** Servers that did not exit within 30 s of SIGTERM at the end. */
  readonly stuck: string[];
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const cluster = await Cluster.start({ durability: options.durability, log: options.log });
  const acknowledged = new Set<string>();
  const iterations: Iteration[] = [];
  let target = 0;
  let stop = false;
  let lmtpSent = 0;
  let appendSent = 0;
  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  // Continuous delivery: LMTP to whichever server holds the active copy now.
  const delivery = async (): Promise<void> => {
    while (!stop) {
      const subject = `soak L${lmtpSent++}`;
      if (await deliver(cluster, target, subject)) acknowledged.add(subject);
      else await pause(50);
    }
  };
  // IMAP load: SELECT, FETCH of the newest messages, APPEND.
  const imapLoad = async (): Promise<void> => {
    while (!stop) {
      const client = imapClient(cluster.ports(target).imap!);
      try {
        await client.connect();
        while (!stop) {
          const box = await client.mailboxOpen('INBOX');
          if (box.exists > 0) for await (const _ of client.fetch(`${Math.max(1, box.exists - 9)}:*`, { envelope: true, flags: true })) void _;
          const subject = `soak A${appendSent++}`;
          await client.append('INBOX', `Subject: ${subject}\r\nFrom: soak@example.net\r\n\r\n${subject}\r\n`);
          acknowledged.add(subject);
        }
      } catch {
        await pause(50);
      } finally {
        await closeQuietly(client);
      }
    }
  };

  let loads: Array<Promise<void>> = [];
  let stuck: string[] = [];
  try {
    const first = cluster.activeOf('DB01');
    if (first === null) throw new Error('no server holds DB01 active');
    target = first;
    // The mailbox is made at the first delivery; wait for it before the load starts.
    await cluster.until(() => canSelect(cluster, target), 60_000, 'the first SELECT');
    loads = [delivery(), delivery(), imapLoad()];
    for (let n = 0; n < options.iterations; n++) {
      const active = cluster.activeOf('DB01');
      if (active === null) throw new Error(`iteration ${n + 1}: no server holds DB01 active`);
      target = active;
      const before = acknowledged.size;
      await pause(options.loadMs);
      if (acknowledged.size === before) throw new Error(`iteration ${n + 1}: nothing acknowledged under load on ${cluster.servers[active]!.name}`);
      const killedAt = performance.now();
      cluster.kill(active);
      let newActive = -1;
      await cluster.until(async () => {
        for (let i = 0; i < cluster.servers.length; i++) {
          if (i !== active && cluster.running(i) && (await canSelect(cluster, i))) {
            newActive = i;
            return true;
          }
        }
        return false;
      }, 90_000, `a SELECT on a new active after killing ${cluster.servers[active]!.name}`);
      const selectMs = performance.now() - killedAt;
      target = newActive;
      await pause(1_000);
      const snapshot = [...acknowledged];
      const present = await subjects(cluster, newActive);
      const missing = snapshot.filter((s) => !present.has(s));
      const iteration: Iteration = { killed: cluster.servers[active]!.name, newActive: cluster.servers[newActive]!.name, selectMs: Math.round(selectMs), acknowledged: snapshot.length, missing: missing.length };
      iterations.push(iteration);
      options.log(
        `iteration ${n + 1}/${options.iterations}: killed ${iteration.killed}, SELECT on ${iteration.newActive} after ${iteration.selectMs} ms; ` +
          `${iteration.acknowledged} acknowledged, ${iteration.missing} missing${missing.length > 0 ? ` (${missing.slice(0, 5).join(', ')}...)` : ''}`,
      );
      // The killed server comes back passive and catches up before the next kill.
      await cluster.startServer(active);
      await cluster.until(() => {
        const own = cluster.list(active).find((c) => c.database === 'DB01')!;
        const current = cluster.list(newActive).find((c) => c.database === 'DB01')!;
        return own.role === 'passive' && own.state === 'Healthy' && own.lastLogPosition >= current.lastLogPosition - 64 * 1024;
      }, 120_000, `${cluster.servers[active]!.name} to rejoin as a passive copy`);
    }
  } finally {
    stop = true;
    await Promise.race([Promise.allSettled(loads), pause(20_000)]);
    stuck = await cluster.stop();
  }
  return { iterations, stuck };
}

export function summarize(result: SoakResult): string[] {
  const times = result.iterations.map((i) => i.selectMs);
  const missing = result.iterations.map((i) => i.missing);
  const at = (p: number): number => (times.length === 0 ? NaN : Math.round(percentile(times, p)));
  return [
    `iterations ${result.iterations.length}; time from kill -9 to SELECT on the new active: p50 ${at(50)} ms, p90 ${at(90)} ms, p99 ${at(99)} ms, max ${Math.max(...times)} ms`,
    `acknowledged messages missing per iteration: ${missing.join(' ')} (total ${missing.reduce((a, b) => a + b, 0)}); acknowledged at the end ${result.iterations.at(-1)?.acknowledged ?? 0}`,
    result.stuck.length === 0 ? 'every server shut down cleanly on SIGTERM' : `servers that did not shut down on SIGTERM: ${result.stuck.join('\n')}`,
  ];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (name: string, fallback: string): string => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
  };
  const durability = value('durability', 'sync');
  if (durability !== 'sync' && durability !== 'async') throw new Error('--durability sync|async');
  const started = Date.now();
  const log = (line: string): void => console.log(`[soak ${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`);
  const result = await runSoak({ iterations: Number(value('iterations', '20')), durability, loadMs: Number(value('load-ms', '3000')), log });
  for (const line of summarize(result)) console.log(line);
  const lost = result.iterations.some((i) => i.missing > 0);
  if ((lost && durability === 'sync') || result.stuck.length > 0) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: Error) => {
    console.error(error.stack ?? error.message);
    process.exitCode = 1;
  });
}
