// Proves the Kafka transport against a real Kafka 4.1 broker and a real schema registry
// (started once for this file through scripts/services; a failure to start fails the tests):
//  - a passive copy fed only from Kafka stores exactly the active copy's log bytes;
//  - the topic is truncated below what every copy's consumer group committed (not past a
//    suspended copy);
//  - kill -9 of the active copy's worker under a sync-mode write load, with failover at once:
//    every acknowledged append is on the new active copy, same UID, same bytes;
//  - two servers: the active one is frozen, the other activates its copy (a new transactional
//    producer epoch); the old active wakes up, its write is refused and the client is told so;
//  - two `quire start` processes: kill -9 of the one with the active copies; the other sees it
//    leave the servers' group and takes over with every acknowledged batch; the old one comes
//    back passive (the control topic says who is active).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kafka, schemaRegistry, type KafkaHandle, type RegistryHandle } from '../../scripts/services/services.js';
import { Supervisor, type CopyStatus } from '../supervisor.js';
import { KafkaTransport } from './kafka.js';
import { append, checkAcknowledged, createMailbox, logBytes, until } from './testing.js';

let broker: KafkaHandle;
let registry: RegistryHandle;
let scratch: string;
let run = 0;

before(async () => {
  [broker, registry] = await Promise.all([kafka.start(), schemaRegistry.start()]);
  scratch = mkdtempSync(join(tmpdir(), 'quire-kafka-'));
}, { timeout: 240_000 });

after(async () => {
  await Promise.all([broker?.stop(), registry?.stop()]);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function transport(): KafkaTransport {
  return new KafkaTransport({ brokers: [broker.bootstrap], registryUrl: registry.url, prefix: `quire-test-${process.pid}-${++run}` });
}

const copyOf = (list: CopyStatus[], server: string, copy = 1): CopyStatus => list.find((c) => c.server === server && c.copy === copy)!;

test('Kafka shipping: the passive copy stores the active copy\'s exact bytes; the envelope schema is in the registry', { timeout: 120_000 }, async () => {
  const shipping = transport();
  const dirs = [join(scratch, 'ident', 'MBX1-1'), join(scratch, 'ident', 'MBX2-1')];
  const supervisor = new Supervisor({
    transport: shipping,
    durability: 'sync',
    copies: [
      { database: 'DB01', server: 'MBX1', copy: 1, role: 'active', dir: dirs[0]! },
      { database: 'DB01', server: 'MBX2', copy: 1, role: 'passive', dir: dirs[1]! },
    ],
  });
  try {
    await supervisor.start();
    await until(async () => copyOf(await supervisor.list(), 'MBX2').state === 'Healthy', 30_000, 'passive subscribed');
    const api = supervisor.api('DB01');
    await createMailbox(api, 'm1', 'a@example.org');
    const acknowledged = new Map<number, string>();
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const body = `Subject: kafka ${i}\r\n\r\n${'z'.repeat(i * 101)}\r\n`;
        const r = await append(api, 'm1', body);
        assert.ok('uid' in r, JSON.stringify(r));
        acknowledged.set(r.uid, body);
      }),
    );
    // Sync mode over Kafka: acknowledged means committed in the topic; the passive reads it from there.
    await until(async () => {
      const l = await supervisor.list();
      return copyOf(l, 'MBX2').lastLogPosition === copyOf(l, 'MBX1').lastLogPosition && copyOf(l, 'MBX2').replayQueueLength === 0;
    }, 30_000, 'passive to catch up from Kafka and replay');
    const list = await supervisor.list();
    assert.equal(copyOf(list, 'MBX2').transport, 'kafka');
    assert.ok(copyOf(list, 'MBX1').lastLogPosition > 0);
    assert.ok(logBytes(dirs[0]!).equals(logBytes(dirs[1]!)), 'passive log is byte-identical to the active log');

    const subjects = (await (await fetch(`${registry.url}/subjects`)).json()) as string[];
    assert.ok(subjects.includes(`${shipping.topicOf('DB01')}-value`), `envelope subject registered (have ${subjects.join(', ')})`);
  } finally {
    await supervisor.stop();
  }
});

test('Kafka topic truncation: records every copy has are deleted; a suspended copy holds them, and catches up when resumed', { timeout: 120_000 }, async () => {
  const shipping = transport();
  const dirs = [join(scratch, 'trunc', 'MBX1-1'), join(scratch, 'trunc', 'MBX2-1')];
  const lines: string[] = [];
  const supervisor = new Supervisor({
    transport: shipping,
    durability: 'sync',
    truncateIntervalMs: 100,
    log: (line) => lines.push(line),
    copies: [
      { database: 'DB01', server: 'MBX1', copy: 1, role: 'active', dir: dirs[0]! },
      { database: 'DB01', server: 'MBX2', copy: 1, role: 'passive', dir: dirs[1]! },
    ],
  });
  const admin = await shipping.adminClient();
  const low = async (): Promise<number> => Number((await admin.fetchTopicOffsets(shipping.topicOf('DB01')))[0]!.low);
  try {
    await supervisor.start();
    await until(async () => copyOf(await supervisor.list(), 'MBX2').state === 'Healthy', 30_000, 'passive subscribed');
    const api = supervisor.api('DB01');
    await createMailbox(api, 'm1', 'a@example.org');
    for (let i = 0; i < 10; i++) assert.ok('uid' in (await append(api, 'm1', `Subject: t ${i}\r\n\r\nbody\r\n`)));
    // Every batch committed in the topic was received by the passive copy: the records go.
    const first = await until(async () => ((await low()) >= 10 ? low() : null), 30_000, 'the topic to be truncated');
    assert.ok(lines.some((l) => /DB01: kafka records below offset \d+ deleted/.test(l)), lines.join('\n'));

    // A suspended copy's group stops committing: the topic keeps what it has not received.
    await supervisor.suspend('DB01', 'MBX2', 1);
    // What the copy received before it stopped may still go (its group committed it on the way out).
    await new Promise((r) => setTimeout(r, 500));
    const held = await low();
    for (let i = 0; i < 10; i++) assert.ok('uid' in (await append(api, 'm1', `Subject: s ${i}\r\n\r\nbody\r\n`)));
    await new Promise((r) => setTimeout(r, 500)); // several truncation passes
    assert.equal(await low(), held, 'nothing the suspended copy lacks is deleted');
    await supervisor.resume('DB01', 'MBX2', 1);
    await until(async () => {
      const l = await supervisor.list();
      return copyOf(l, 'MBX2').lastLogPosition === copyOf(l, 'MBX1').lastLogPosition && copyOf(l, 'MBX2').state === 'Healthy';
    }, 30_000, 'the resumed copy to catch up from the topic');
    await until(async () => ((await low()) > held ? true : null), 30_000, 'truncation past the hold');
    assert.ok(first >= 10);
    assert.ok(logBytes(dirs[0]!).equals(logBytes(dirs[1]!)), 'the copies hold the same bytes');
  } finally {
    await supervisor.stop();
  }
});

test('kill -9 of the active copy in sync mode: failover loses no acknowledged append', { timeout: 180_000 }, async () => {
  const dirs = [join(scratch, 'kill', 'MBX1-1'), join(scratch, 'kill', 'MBX2-1')];
  const supervisor = new Supervisor({
    transport: transport(),
    durability: 'sync',
    restartsBeforeFailover: 0,
    mountDial: 'lossless',
    copies: [
      { database: 'DB01', server: 'MBX1', copy: 1, role: 'active', dir: dirs[0]! },
      { database: 'DB01', server: 'MBX2', copy: 1, role: 'passive', dir: dirs[1]! },
    ],
  });
  try {
    await supervisor.start();
    await until(async () => copyOf(await supervisor.list(), 'MBX2').state === 'Healthy', 30_000, 'passive subscribed');
    const api = supervisor.api('DB01');
    await createMailbox(api, 'm1', 'a@example.org');
    const acknowledged = new Map<number, string>();
    let sent = 0;
    let refused = 0;
    let stop = false;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      while (!stop) {
        const body = `Subject: writer ${w} #${sent++}\r\n\r\n${'k'.repeat((sent * 53) % 3000)}\r\n`;
        const r = await append(api, 'm1', body);
        if ('uid' in r) acknowledged.set(r.uid, body);
        else {
          assert.equal(r.code, 'DATABASE_UNAVAILABLE', r.message);
          refused += 1;
        }
      }
    });
    await until(() => acknowledged.size >= 150, 60_000, 'load before the kill');
    const before = copyOf(await supervisor.list(), 'MBX1');
    const killedAt = Date.now();
    process.kill(before.pid!, 'SIGKILL');
    const afterKill = acknowledged.size;
    await until(async () => copyOf(await supervisor.list(), 'MBX2').state === 'Mounted', 60_000, 'MBX2 to be mounted');
    const mountedMs = Date.now() - killedAt;
    await until(() => acknowledged.size >= afterKill + 100, 60_000, 'writes to go on through the same routing object');
    stop = true;
    await Promise.all(writers);

    const check = await checkAcknowledged(api, 'm1', acknowledged);
    const list = await supervisor.list();
    console.log(`kill -9 failover: ${acknowledged.size} appends acknowledged (${afterKill} before the kill), ${refused} refused as DATABASE_UNAVAILABLE, ` +
      `missing ${check.missing.length}, wrong ${check.wrong.length}, MBX2 mounted ${mountedMs} ms after the kill`);
    assert.deepEqual(check, { missing: [], wrong: [] }, 'every acknowledged append survives, same UID and bytes');
    assert.equal(copyOf(list, 'MBX2').role, 'active');
    assert.equal(copyOf(list, 'MBX1').role, 'passive');
    assert.equal(copyOf(list, 'MBX1').state, 'Failed');
  } finally {
    await supervisor.stop();
  }
});

test('two servers: the frozen old active is fenced by the new one; its write is refused and the client told', { timeout: 180_000 }, async () => {
  const prefix = transport();
  const dirs = [join(scratch, 'fence', 'MBX1-1'), join(scratch, 'fence', 'MBX2-1')];
  // Two supervisors, as two servers would run them, sharing only Kafka.
  const shippingA = new KafkaTransport({ brokers: [broker.bootstrap], registryUrl: registry.url, prefix: prefix.topicOf('x').slice(0, -2) });
  const shippingB = new KafkaTransport({ brokers: [broker.bootstrap], registryUrl: registry.url, prefix: prefix.topicOf('x').slice(0, -2) });
  const a = new Supervisor({ transport: shippingA, durability: 'sync', copies: [{ database: 'DB01', server: 'MBX1', copy: 1, role: 'active', dir: dirs[0]! }] });
  const b = new Supervisor({ transport: shippingB, durability: 'sync', copies: [{ database: 'DB01', server: 'MBX2', copy: 1, role: 'passive', dir: dirs[1]! }] });
  let frozen: number | null = null;
  try {
    await a.start();
    await b.start();
    await until(async () => (await b.list())[0]!.state === 'Healthy', 30_000, 'passive subscribed');
    const apiA = a.api('DB01');
    await createMailbox(apiA, 'm1', 'a@example.org');
    const acknowledged = new Map<number, string>();
    for (let i = 0; i < 20; i++) {
      const body = `Subject: before ${i}\r\n\r\n`;
      const r = await append(apiA, 'm1', body);
      assert.ok('uid' in r, JSON.stringify(r));
      acknowledged.set(r.uid, body);
    }
    frozen = (await a.list())[0]!.pid!;
    process.kill(frozen, 'SIGSTOP');
    await b.failover('DB01', 'MBX1 unreachable');
    const apiB = b.api('DB01');
    assert.deepEqual(await checkAcknowledged(apiB, 'm1', acknowledged), { missing: [], wrong: [] });

    process.kill(frozen, 'SIGCONT');
    frozen = null;
    const zombie = await append(apiA, 'm1', 'Subject: from the old active\r\n\r\n');
    assert.ok('code' in zombie, 'the old active must not accept a write');
    assert.equal(zombie.code, 'DATABASE_UNAVAILABLE');
    assert.match(zombie.message, /fenced/);
    await until(async () => (await a.list())[0]!.state === 'Failed', 10_000, 'old active marked failed');
    assert.match((await a.list())[0]!.error ?? '', /fenced/);

    // The new active serves and the zombie's message is nowhere.
    const r = await append(apiB, 'm1', 'Subject: after\r\n\r\n');
    assert.ok('uid' in r, JSON.stringify(r));
    const listing = await apiB.listMessages('m1', 'INBOX');
    assert.ok(listing.ok);
    assert.equal(listing.value.messages.length, acknowledged.size + 1);
  } finally {
    if (frozen !== null) process.kill(frozen, 'SIGCONT');
    await a.stop();
    await b.stop();
  }
});

test('three processes: kill -9 of the server with the active copy; the other server takes over through the servers\' group', { timeout: 240_000 }, async () => {
  const bin = fileURLToPath(new URL('../../../bin/quire.js', import.meta.url));
  const shared = ['--kafka', broker.bootstrap, '--registry', registry.url, '--durability', 'sync', '--kafka-session-timeout-ms', '2000'];
  const dataDirs = [join(scratch, 'servers', 'MBX1'), join(scratch, 'servers', 'MBX2')];
  const servers: Array<ChildProcess | null> = [null, null];
  const outputs = ['', ''];
  const startServer = async (i: number, extra: string[]): Promise<void> => {
    rmSync(join(dataDirs[i]!, 'server.json'), { force: true });
    const child = spawn(process.execPath, [bin, 'start', '--data', dataDirs[i]!, '--server', `MBX${i + 1}`, '--port-offset', 'any', ...shared, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: kill -9 of the group takes its workers too, like a dead machine
    });
    child.stdout!.on('data', (c: Buffer) => (outputs[i] += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (outputs[i] += c.toString()));
    servers[i] = child;
    await until(() => existsSync(join(dataDirs[i]!, 'server.json')) || child.exitCode !== null, 90_000, `MBX${i + 1} to start`);
    assert.equal(child.exitCode, null, outputs[i]);
  };
  const quire = (i: number, ...args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [bin, ...args, '--data', dataDirs[i]!], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const copies = (i: number): Array<Record<string, any>> => {
    const r = quire(i, 'db', 'list', '--json');
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as Array<Record<string, any>>;
  };
  const db01 = (i: number): Record<string, any> => copies(i).find((c) => c.database === 'DB01')!;
  try {
    await startServer(0, []);
    await startServer(1, ['--passive', 'DB01,DB02']);
    await until(() => copies(1).every((c) => c.state === 'Healthy'), 60_000, 'MBX2 copies healthy');
    for (let i = 0; i < 3; i++) {
      const r = quire(0, 'user', 'add', `u${i}@example.org`, '--password', `a-long-password-${i}`, '--database', 'DB01');
      assert.equal(r.status, 0, r.stderr);
    }
    const acknowledgedEnd = db01(0).lastLogPosition as number;
    assert.ok(acknowledgedEnd > 0);

    const killedAt = Date.now();
    process.kill(-servers[0]!.pid!, 'SIGKILL');
    await until(() => {
      const c = db01(1);
      return c.role === 'active' && c.state === 'Mounted';
    }, 90_000, 'MBX2 to take DB01 over');
    const takeoverMs = Date.now() - killedAt;
    const after = db01(1);
    console.log(`server kill -9 takeover: DB01 mounted on MBX2 ${takeoverMs} ms after the kill (Kafka session timeout 2000 ms); ` +
      `log ${after.lastLogPosition} >= acknowledged ${acknowledgedEnd}`);
    assert.ok(after.lastLogPosition >= acknowledgedEnd, 'every acknowledged batch is on the new active copy');
    const r = quire(1, 'user', 'add', 'late@example.org', '--password', 'a-long-password-x', '--database', 'DB01');
    assert.equal(r.status, 0, `the new active copy takes writes: ${r.stderr}`);

    // The old server comes back: the control topic says MBX2 is active, so its copy starts passive and catches up.
    console.log(`server kill -9 takeover: the new active copy took a write ${Date.now() - killedAt} ms after the kill; restarting MBX1`);
    await startServer(0, []);
    await until(() => {
      const c = db01(0);
      return c.role === 'passive' && c.state === 'Healthy' && c.lastLogPosition === db01(1).lastLogPosition;
    }, 60_000, 'MBX1 to rejoin as passive');
  } finally {
    // `quire start` must shut down on SIGTERM; one that does not within 30 s is killed and
    // named with its output, rather than leaving the test to time out with no clue.
    const stuck: string[] = [];
    for (const [i, child] of servers.entries()) {
      if (child === null || child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = new Promise((resolve) => setTimeout(() => resolve('stuck'), 30_000).unref());
      if ((await Promise.race([exited, timer])) === 'stuck') {
        stuck.push(`MBX${i + 1} did not exit 30 s after SIGTERM; its output ends:\n${outputs[i]!.slice(-3_000)}`);
        process.kill(-child.pid!, 'SIGKILL');
        await exited;
      }
    }
    assert.deepEqual(stuck, []);
  }
});
