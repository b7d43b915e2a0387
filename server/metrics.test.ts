// Proves the server's metrics: the front-end hooks become Prometheus series with bounded label
// sets; database series come from the supervisor's copy list and the workers' counters (log
// bytes only ever grow, a restarted worker's counters do not go backwards); the health rule
// (an active copy here must be mounted) and the sampler's rates. Then, on a real server,
// /metrics on the plain-HTTP port shows every database's series and counts real commits, and
// /healthz fails while a database cannot be mounted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CopyStatus } from '../engine/supervisor.js';
import { ServerMetrics, commandNamesMax, healthOf } from './metrics.js';
import { startServer } from './server.js';
import { startTestServer } from '../test/harness.js';
import { adminCall } from '../protocols/http/testing.js';

function copy(over: Partial<CopyStatus>): CopyStatus {
  return {
    database: 'DB01', server: 'MBX1', copy: 1, role: 'active', state: 'Mounted', pid: 1, restarts: 0, lastLogPosition: 0, checkpointPosition: 0,
    copyQueueLength: 0, replayQueueLength: 0, lastInspectedPosition: 0, lastReplayedPosition: 0, replayLagMs: 0, activationGeneration: 1,
    activationPreference: 1, durability: 'async', transport: 'embedded', contentIndexState: 'NotApplicable', error: null, ...over,
  } as CopyStatus;
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('front-end hooks become series; command names are bounded; database series follow the copies', async () => {
  let copies = [copy({ lastLogPosition: 1000, checkpointPosition: 600 }), copy({ copy: 2, role: 'passive', state: 'Healthy', lastLogPosition: 800, checkpointPosition: 700, copyQueueLength: 200, replayQueueLength: 100, replayLagMs: 1500 })];
  let stats = { batches: 10, logBytes: 1000 };
  let now = 0;
  const metrics = new ServerMetrics({ list: async () => copies, workerStats: async () => stats }, () => now);
  metrics.sessionOpened('imap');
  metrics.sessionOpened('imap');
  metrics.sessionClosed('imap');
  metrics.command('imap', 'select', 'ok', 3);
  metrics.command('imap', 'FETCH', 'no', 2);
  for (let i = 0; i < commandNamesMax + 5; i++) metrics.command('jmap', `Method${i}/get`, 'ok', 1);
  metrics.command('pop3', 'bad name\r\n{}', 'bad', 1);
  metrics.authFailure('pop3');
  metrics.delivery('delivered', 3);
  metrics.delivery('bounced', 1);
  let text = (await metrics.exposition()).body;
  assert.equal(value(text, 'quire_protocol_sessions{protocol="imap"}'), 1);
  assert.equal(value(text, 'quire_protocol_sessions_total{protocol="imap"}'), 2);
  assert.equal(value(text, 'quire_protocol_commands_total{protocol="imap",command="SELECT",outcome="ok"}'), 1);
  assert.equal(value(text, 'quire_protocol_errors_total{protocol="imap"}'), 1);
  assert.equal(value(text, 'quire_protocol_commands_total{protocol="jmap",command="OTHER",outcome="ok"}'), 5, 'names past the cap count as OTHER');
  assert.equal(value(text, 'quire_protocol_commands_total{protocol="pop3",command="BADNAME",outcome="bad"}'), 1, 'label values are cleaned');
  assert.equal(value(text, 'quire_auth_failures_total{protocol="pop3"}'), 1);
  assert.equal(value(text, 'quire_deliveries_total{outcome="delivered"}'), 3);
  assert.equal(value(text, 'quire_bounces_total'), 1);
  assert.equal(value(text, 'quire_database_checkpoint_depth_bytes{database="DB01",server="MBX1",copy="1"}'), 400);
  assert.equal(value(text, 'quire_database_copy_queue_bytes{database="DB01",server="MBX1",copy="2"}'), 200);
  assert.equal(value(text, 'quire_database_replay_queue_bytes{database="DB01",server="MBX1",copy="2"}'), 100);
  assert.equal(value(text, 'quire_database_replay_lag_seconds{database="DB01",server="MBX1",copy="2"}'), 1.5);
  assert.equal(value(text, 'quire_database_copy_info{database="DB01",server="MBX1",copy="2",role="passive",state="Healthy"}'), 1);
  assert.equal(value(text, 'quire_database_log_bytes_total{database="DB01"}'), 0, 'the first look is the baseline');
  assert.equal(value(text, 'quire_database_mounted{database="DB01"}'), 1);

  // The sampler: rates between two samples.
  await metrics.sample();
  const api = metrics.timed('DB01', { commit: async () => ({ ok: true, value: { results: [], modseqHighest: 1, position: 0 } }) } as never);
  for (let i = 0; i < 4; i++) await api.commit({ mailboxId: 'm', ops: [] });
  now += 2_000;
  copies = [copy({ lastLogPosition: 3000, checkpointPosition: 3000 }), copies[1]!];
  stats = { batches: 12, logBytes: 3000 };
  metrics.delivery('delivered', 4);
  const sample = await metrics.sample();
  assert.ok(sample !== null);
  assert.equal(sample.deliveriesPerSecond, 2);
  assert.equal(sample.logBytesPerSecond.DB01, 1000);
  assert.equal(sample.commitsPerSecond.DB01, 2);
  assert.ok(sample.commitLatencyMsMean.DB01 !== null && sample.commitLatencyMsMean.DB01 >= 0);
  text = (await metrics.exposition()).body;
  assert.equal(value(text, 'quire_database_log_bytes_total{database="DB01"}'), 2000);
  assert.equal(value(text, 'quire_database_log_bytes_per_second{database="DB01"}'), 1000);
  assert.equal(value(text, 'quire_database_batch_bytes_mean{database="DB01"}'), 1000);
  assert.equal(value(text, 'quire_database_batch_commits_mean{database="DB01"}'), 2);
  assert.equal(value(text, 'quire_database_commits_total{database="DB01",outcome="ok"}'), 4);
  assert.equal(metrics.history().length, 1);

  // A restarted worker starts its counters again: the counter adds the new count, never goes back.
  const before = value(text, 'quire_database_batches_total{database="DB01",server="MBX1",copy="1"}')!;
  stats = { batches: 3, logBytes: 100 };
  text = (await metrics.exposition()).body;
  assert.equal(value(text, 'quire_database_batches_total{database="DB01",server="MBX1",copy="1"}'), before + 3);
});

test('health: a database with an active copy here must have one mounted; passive trouble only degrades', () => {
  assert.deepEqual(healthOf([copy({}), copy({ copy: 2, role: 'passive', state: 'Healthy' })]), { unhealthy: [], degraded: [] });
  assert.deepEqual(healthOf([copy({ state: 'Failed' }), copy({ copy: 2, role: 'passive', state: 'Healthy' })]).unhealthy, ['DB01']);
  assert.deepEqual(healthOf([copy({ state: 'Initializing' })]).unhealthy, ['DB01'], 'not mounted yet is not healthy');
  assert.deepEqual(healthOf([copy({ state: 'Failed' }), copy({ copy: 2, state: 'Mounted' })]).unhealthy, [], 'failed over: another active copy is mounted');
  assert.deepEqual(healthOf([copy({ role: 'passive', state: 'Healthy' })]).unhealthy, [], 'active on another server');
  assert.deepEqual(healthOf([copy({}), copy({ copy: 2, role: 'passive', state: 'Failed' })]), { unhealthy: [], degraded: ['DB01\\MBX1#2'] });
});

test('a real server: /metrics counts real commits and shows every copy; /healthz 200', { timeout: 60_000 }, async () => {
  const quire = await startTestServer();
  try {
    const base = `http://127.0.0.1:${quire.port('http')}`;
    const before = await (await fetch(`${base}/metrics`)).text();
    const committed = value(before, 'quire_database_commit_duration_seconds_count{database="DB01"}') ?? 0;
    const added = await adminCall(quire.port('https'), quire.cert, quire.server.adminToken, 'POST', '/api/v1/users', { address: 'metrics@example.org', password: 'pw-metrics-1' });
    assert.equal(added.status, 201, added.text());
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
    const text = await response.text();
    assert.equal(value(text, 'quire_database_commit_duration_seconds_count{database="DB01"}'), committed + 1, 'the createMailbox commit was timed');
    for (const database of ['DB01', 'DB02']) {
      for (const c of ['1', '2']) {
        for (const series of ['log_position_bytes', 'checkpoint_depth_bytes', 'copy_queue_bytes', 'replay_queue_bytes', 'replay_lag_seconds']) {
          assert.ok(value(text, `quire_database_${series}{database="${database}",server="MBX1",copy="${c}"}`) !== undefined, `${series} ${database}#${c}`);
        }
      }
    }
    assert.ok(value(text, 'quire_database_log_position_bytes{database="DB01",server="MBX1",copy="1"}')! > 0);
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true, unhealthy: [], degraded: [] });
    const redirect = await fetch(`${base}/admin`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), `https://127.0.0.1:${quire.port('https')}/admin`);
  } finally {
    await quire.stop();
  }
});

test('/healthz answers 503 naming a database that cannot be mounted', { timeout: 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-health-'));
  const options = { dataDir, server: 'MBX1', domain: 'example.org', listen: '127.0.0.1', portOffset: 0, ports: 'ephemeral' as const, logLevel: 'silent', say: () => {} };
  try {
    const first = await startServer(options);
    await first.stop();
    // Both copies of DB02 damaged: neither can open, so DB02 cannot be mounted anywhere.
    for (const c of ['MBX1-1', 'MBX1-2']) writeFileSync(join(dataDir, 'databases', 'DB02', c, 'header.json'), 'not json');
    const second = await startServer(options);
    try {
      const response = await fetch(`http://127.0.0.1:${second.ports.http}/healthz`);
      assert.equal(response.status, 503);
      const body = (await response.json()) as { ok: boolean; unhealthy: string[] };
      assert.equal(body.ok, false);
      assert.deepEqual(body.unhealthy, ['DB02']);
      const metrics = await (await fetch(`http://127.0.0.1:${second.ports.http}/metrics`)).text();
      assert.equal(value(metrics, 'quire_database_mounted{database="DB02"}'), 0);
      assert.equal(value(metrics, 'quire_database_mounted{database="DB01"}'), 1);
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
