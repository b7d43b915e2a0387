// Where a write's time goes, inside Quire only (not a suite: no peer, no ratio). Starts a real
// server (`startServer`, workers, RocksDB, the embedded passive copies) with 64 users on the
// default databases, drives closed-loop LMTP deliveries or IMAP STORE/APPEND sessions, and
// prints each database copy's commit stages from its status (`timings`, engine/database.ts):
// planning, waiting for the pipeline, write + fdatasync, the flush map's mark, the durable
// callback (apply, state store, shipping), per commit and per batch.
//
//   npm run build && node dist/bench/tools/writepath.js lmtp 1,16 3000 [dataDir]
//   node dist/bench/tools/writepath.js imap 4,32 3000
//
// Run it with UV_THREADPOOL_SIZE=64 to match the bench runner. Figures from a shared machine
// swing by 2-5x between runs: compare stages within one run, not runs.

import { loadavg } from 'node:os';
import { rmSync } from 'node:fs';
import { startServer } from '../../server/server.js';
import { addUser } from '../../server/users.js';
import { databasesDefault } from '../../server/paths.js';
import type { WriteTimings } from '../../engine/database.js';
import { benchUsers } from '../peers/mailservers.js';
import { driveSessions, ImapClient, LmtpClient, loopbackSource, seededMessage } from '../peers/mail.js';
import { percentileSorted } from '../lib/stats.js';

const mode = process.argv[2] ?? 'lmtp';
const sessionsList = (process.argv[3] ?? '1,16').split(',').map(Number);
const durationMs = Number(process.argv[4] ?? 3000);
const dir = process.argv[5] ?? '.cache/writepath';
const seed = 0x5e11;
const fmt = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '-');

rmSync(dir, { recursive: true, force: true });
const server = await startServer({ dataDir: dir, server: 'BENCH', domain: 'example.org', listen: '127.0.0.1', portOffset: 0, ports: 'ephemeral', logLevel: 'silent', say: () => undefined });
const users = benchUsers(64);
const databases = [...databasesDefault];
for (const [i, user] of users.entries()) {
  const added = await addUser(server.directory, databases, (d) => server.supervisor.api(d), { address: user.name, password: user.password, database: databases[i % databases.length]! });
  if (!added.ok) throw new Error(added.message);
}

async function timings(): Promise<Map<string, WriteTimings>> {
  const out = new Map<string, WriteTimings>();
  for (const c of await server.supervisor.list()) {
    const status = (await server.supervisor.copyClient(c.database, c.server, c.copy).call('status', {})) as { timings: WriteTimings };
    if (status.timings !== undefined) out.set(`${c.database}#${c.copy} ${c.role}`, status.timings);
  }
  return out;
}

function report(before: Map<string, WriteTimings>, after: Map<string, WriteTimings>): void {
  for (const [name, a] of after) {
    const b = before.get(name);
    const d = Object.fromEntries(Object.entries(a).map(([k, v]) => [k, (v as number) - ((b as unknown as Record<string, number> | undefined)?.[k] ?? 0)])) as unknown as WriteTimings;
    if (d.batches === 0) continue;
    const perCommit = d.commits === 0 ? '' : ` | per commit ms: plan ${fmt(d.planMsTotal / d.commits)} queue ${fmt(d.queueMsTotal / d.appends)} append ${fmt(d.appendMsTotal / d.appends)} commit ${fmt(d.commitMsTotal / d.commits)}`;
    console.log(
      `  ${name}: batches ${d.batches} commits/batch ${fmt(d.appends / d.batches)} marks ${d.marks}${perCommit}` +
        ` | per batch ms: write+sync ${fmt(d.syncMsTotal / d.batches)} fdatasync ${fmt(d.dataSyncMsTotal / d.batches)} mark ${fmt(d.markMsTotal / Math.max(1, d.marks))} durable ${fmt(d.durableMsTotal / d.batches)} (state ${fmt(d.stateMsTotal / d.batches)} ship ${fmt(d.shipMsTotal / d.batches)})`,
    );
  }
}

/** Each copy's content index at the end of a window: what is still waiting to be indexed (engine/search/README.md). */
async function indexReport(): Promise<void> {
  for (const c of await server.supervisor.list()) {
    const status = (await server.supervisor.copyClient(c.database, c.server, c.copy).call('status', {})) as { searchIndex?: { state: string; documents: number; backlogDocuments?: number; lagMs?: number; indexMsTotal?: number; snapshots?: number; snapshotMsTotal?: number } };
    const index = status.searchIndex;
    if (index !== undefined) console.log(`  ${c.database}#${c.copy} ${c.role} index: ${index.state} ${index.documents} indexed, ${index.backlogDocuments ?? '-'} waiting, lag ${index.lagMs ?? '-'} ms; since start: indexing ${index.indexMsTotal ?? '-'} ms, ${index.snapshots ?? '-'} snapshots taking ${index.snapshotMsTotal ?? '-'} ms`);
  }
}

try {
  for (const sessions of sessionsList) {
    const before = await timings();
    const result =
      mode === 'lmtp'
        ? await driveSessions({
            sessions,
            durationMs,
            seed,
            open: () => LmtpClient.connect(server.ports.lmtp!),
            step: async (client, random, log) => {
              const to = users[Math.floor(random() * users.length)]!.name;
              await log.time('LMTP', () => client.deliver('sender@example.net', [to], seededMessage(seed, Math.floor(random() * 1e6))));
            },
            close: (client) => client.quit(),
          })
        : await driveSessions({
            sessions,
            durationMs,
            seed,
            open: async (i) => {
              const client = await ImapClient.connect(server.ports.imaps!, server.tlsCert, loopbackSource(i));
              await client.login(users[i]!.name, users[i]!.password);
              for (let m = 0; m < 20; m++) await client.command('APPEND INBOX', seededMessage(seed, m));
              await client.select('INBOX');
              return client;
            },
            step: async (client, random, log) => {
              const r = random();
              if (r < 0.6) await log.time('STORE', () => client.command(`UID STORE ${1 + Math.floor(random() * 20)} ${random() < 0.5 ? '+' : '-'}FLAGS (\\Seen)`));
              else await log.time('APPEND', () => client.command('APPEND INBOX', seededMessage(seed, Math.floor(random() * 1e6))));
            },
            close: (client) => client.logout(),
          });
    console.log(`${mode} sessions=${sessions}: ${fmt(result.commandsPerSec)} cmds/s, load average ${loadavg()[0]!.toFixed(1)}`);
    for (const [kind, latencies] of result.log.byKind) {
      const sorted = latencies.sort((x, y) => x - y);
      console.log(`  ${kind}: n ${sorted.length} p50 ${fmt(percentileSorted(sorted, 50))} p99 ${fmt(percentileSorted(sorted, 99))} ms`);
    }
    report(before, await timings());
    await indexReport();
  }
} finally {
  await server.stop();
}
