// A lossy failover end to end, with real `quire start` processes, Kafka, the schema registry and
// OpenLDAP (scripts/services), in async mode: the broker is frozen so the active server's last
// deliveries stay unshipped (acknowledged: async answers once durable on the active copy), the
// server is killed, the other takes over without them and writes on, and the old server comes
// back: its copy is found divergent, cut back to the common point, becomes a passive copy of
// the new active, and its lost deliveries are handed over (Kafka hand-over topic) and
// resubmitted from its safety net; the IMAP APPEND of the lost tail is reported, not recovered.
// (The new active first asks the dead server for its last logs: connection refused, so it goes
// on under the dial; a live server's last logs are fetched: server/lastlogs.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, deliver, subjects, unshippedTail } from '../scripts/soak/cluster.js';

test('async lossy failover between two quire start servers: the old active is cut back, its deliveries resubmitted from the safety net, its APPEND reported', { timeout: 300_000 }, async () => {
  const cluster = await Cluster.start({ servers: 2, durability: 'async', mountDial: 'best' });
  const db01 = (i: number) => cluster.list(i).find((c) => c.database === 'DB01')!;
  const stuck: string[] = [];
  let thaw = (): void => {};
  try {
    // Kafka frozen: MBX1 acknowledges 4 deliveries and an APPEND (async) that never ship.
    const tail = await unshippedTail(cluster, 'DB01');
    thaw = tail.thaw;
    const delivered = tail.acknowledged.filter((s) => s !== 'appended on MBX1');
    const send = async (i: number, subject: string): Promise<void> => {
      assert.ok(await deliver(cluster, i, subject), `LMTP 250 for ${subject} on ${cluster.servers[i]!.name}`);
      delivered.push(subject);
    };
    cluster.kill(0);
    thaw();

    await cluster.until(() => db01(1).role === 'active' && db01(1).state === 'Mounted', 90_000, 'MBX2 to take DB01 over');
    // It asked the dead server for the last logs first: refused at once, and the dial let it mount.
    assert.match(cluster.servers[1]!.output, /DB01: could not fetch the last logs of DB01 from MBX1: .*ECONNREFUSED/, cluster.servers[1]!.output.slice(-4000));
    for (let n = 0; n < 2; n++) await send(1, `on MBX2 ${n}`);

    await cluster.startServer(0);
    await cluster.until(() => {
      const c = db01(0);
      return c.role === 'passive' && c.state === 'Healthy' && c.lastLogPosition === db01(1).lastLogPosition;
    }, 120_000, 'MBX1 to come back as a passive copy of MBX2');
    await cluster.until(async () => (await subjects(cluster, 1)).has('only on MBX1 3'), 60_000, 'the lost deliveries to be resubmitted on MBX2');
    const present = await subjects(cluster, 1);
    assert.deepEqual(delivered.filter((s) => !present.has(s)), [], 'every acknowledged delivery is on the new active copy');
    assert.ok(!present.has('appended on MBX1'), 'an IMAP APPEND is not in the safety net');
    const out = cluster.servers[0]!.output;
    assert.match(out, /divergent log \[\d+, \d+\) cut off: \d+ batches, 5 messages appended/, out.slice(-4000));
    assert.match(out, /4 deliveries handed to the active copy for resubmission from the safety net; 1 not deliveries .*INBOX \(1\)/, out.slice(-4000));
    assert.match(cluster.servers[1]!.output, /resubmitted/);
    const kept = readdirSync(join(cluster.servers[0]!.dataDir, 'databases', 'DB01', 'divergent'));
    assert.ok(kept.some((n) => n.endsWith('.qlog')), `the cut-off log is kept (${kept.join(', ')})`);
  } finally {
    thaw();
    stuck.push(...(await cluster.stop()));
    // What each server said about its shutdown (a library handle left open is named there).
    for (const server of cluster.servers) console.log(`${server.name}: ${server.output.match(/^shutdown: .*$/gm)?.join(' / ') ?? 'no shutdown line'}`);
  }
  assert.deepEqual(stuck, [], 'both servers shut down cleanly on SIGTERM');
});
