// "Attempt copy last logs" between servers, end to end: two real `quire start` processes, Kafka,
// the schema registry and OpenLDAP (scripts/services), async mode, the lossless mount dial and
// no restart in place (--restarts-before-failover 0). The broker is frozen (SIGSTOP) so MBX1's
// last writes are acknowledged (async) but never shipped; then MBX1's database worker dies
// (kill -9) while the server itself lives. MBX1 gives the database up, MBX2 takes it over and
// asks MBX1, over its admin API's HTTPS listener with the peer token, for the log past its own
// end: every acknowledged write is on MBX2 (the IMAP APPEND too, which no safety net holds),
// under the lossless dial, and MBX1's copy rejoins as a passive copy with nothing cut back.
// The servers' session timeout (15 s) normally outlasts the broker's pause, so MBX1 stays in the
// servers' group: MBX2 takes over because MBX1 gave the database up (a Release through Kafka).
// (A dead server, which cannot be asked: server/divergence.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, deliver, subjects, unshippedTail } from '../scripts/soak/cluster.js';

test('a live server whose active copy failed gives its last logs to the server taking over: nothing acknowledged is lost (async, lossless dial)', { timeout: 300_000 }, async () => {
  const cluster = await Cluster.start({ servers: 2, durability: 'async', mountDial: 'lossless', restartsBeforeFailover: 0, sessionTimeoutMs: 15_000 });
  const db01 = (i: number) => cluster.list(i).find((c) => c.database === 'DB01')!;
  /** What server i said (its own lines and the JSON log share the output: a line may follow a JSON one on the same line). */
  const said = (i: number): string => cluster.servers[i]!.output;
  const brief = (i: number): string => said(i).split('\n').filter((line) => !line.startsWith('{"level"')).join('\n').slice(-3000);
  const stuck: string[] = [];
  let thaw = (): void => {};
  try {
    // Kafka frozen: MBX1 acknowledges 4 deliveries and an APPEND (async) that never ship.
    const tail = await unshippedTail(cluster, 'DB01');
    thaw = tail.thaw;
    const acknowledged = tail.acknowledged;
    const end = db01(0).lastLogPosition;
    const worker = db01(0).pid;
    assert.ok(worker !== null && worker > 0, 'the active copy has a worker');
    process.kill(worker, 'SIGKILL');
    thaw();

    await cluster.until(() => db01(1).role === 'active' && db01(1).state === 'Mounted', 90_000, 'MBX2 to take DB01 over');
    const fetched = /DB01: fetched (\d+) bytes of log past (\d+) from MBX1/.exec(cluster.servers[1]!.output);
    assert.ok(fetched !== null, `${brief(1)}\n----\n${brief(0)}`);
    assert.ok(Number(fetched[1]) > 0, `MBX2 fetched bytes from MBX1 (${fetched[0]})`);
    assert.equal(Number(fetched[1]) + Number(fetched[2]), end, 'MBX2 fetched up to where MBX1 had acknowledged');
    assert.match(said(0), /DB01\\MBX1#1: given up to the other servers: worker \d+ exited/);
    // Taken over because MBX1 said so, or, when the broker's pause outlasted the session (a loaded
    // machine), because MBX1 left the servers' group: either way MBX1 was alive and answered.
    assert.match(said(1), /DB01: server MBX1 (gave the database up|left the servers' group); taking over/, brief(1));
    assert.match(said(0), /DB01\\MBX1#1: failed over to MBX2 \(generation \d+\); its last logs fetched from \d+/);

    const present = await subjects(cluster, 1);
    assert.deepEqual(acknowledged.filter((s) => !present.has(s)), [], 'every acknowledged write is on the new active copy');
    assert.ok(await deliver(cluster, 1, 'on MBX2'), 'LMTP 250 on MBX2');
    // The old active's log is a prefix of the new one's: it follows as a passive copy, nothing cut back.
    await cluster.until(() => {
      const c = db01(0);
      return c.role === 'passive' && c.state === 'Healthy' && c.lastLogPosition === db01(1).lastLogPosition;
    }, 120_000, 'MBX1 to follow MBX2 as a passive copy');
    assert.doesNotMatch(cluster.servers[0]!.output, /divergent/);
  } finally {
    thaw();
    stuck.push(...(await cluster.stop()));
    for (const server of cluster.servers) console.log(`${server.name}: ${server.output.match(/^shutdown: .*$/gm)?.join(' / ') ?? 'no shutdown line'}`);
  }
  assert.deepEqual(stuck, [], 'both servers shut down cleanly on SIGTERM');
});
