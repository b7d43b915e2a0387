// Where the IMAP suite's time goes, per command kind (not a suite: one server at a time, no
// ratio). Starts Quire (its own process, as the suite does) or Dovecot, seeds N users' INBOXes
// with the suite's messages, then runs the suite's mix, or only the kinds named, from N
// sessions closed-loop and prints commands/s and p50/p99 per kind.
//
//   npm run build && node dist/bench/tools/imapprobe.js quire 32 200 3000 [KIND,KIND...]
//   node dist/bench/tools/imapprobe.js dovecot 32 200 3000 'FETCH ENVELOPE'
//   node dist/bench/tools/imapprobe.js quire large 100000 3   (the suite's large-mailbox samples)
//
// Profile Quire's host and workers with NODE_OPTIONS='--cpu-prof --cpu-prof-dir=.cache/prof'
// (every Node process the probe starts writes a .cpuprofile there).

import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { percentileSorted } from '../lib/stats.js';
import { driveSessions, seededMessage, seedInboxes } from '../peers/mail.js';
import { benchUsers, startDovecot, startQuire, type MailServer } from '../peers/mailservers.js';
import { bigMessage, bigSample, bigUser, flaggedEvery, mix, openSession, step } from '../suites/imap.js';

const subject = process.argv[2] ?? 'quire';
if (process.argv[3] === 'large') {
  await large(subject, Number(process.argv[4] ?? 100_000), Number(process.argv[5] ?? 3));
  process.exit(0);
}
const sessions = Number(process.argv[3] ?? 32);
const messages = Number(process.argv[4] ?? 200);
const durationMs = Number(process.argv[5] ?? 3000);
const only = process.argv[6]?.split(',');
const seed = 0x1a2b3c;
const weights = Object.fromEntries(Object.entries(mix).map(([k, w]) => [k, only === undefined || only.includes(k) ? w : 0])) as Record<keyof typeof mix, number>;

const dir = resolve('.cache/imapprobe');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const users = benchUsers(sessions);
const quire = await startQuire(dir, users);
let server: MailServer = quire;
if (subject === 'dovecot') server = await startDovecot(users, quire.tls, { strongHashes: false });
const windowUs: bigint[] = [];
let cpuBefore: Map<number, { name: string; ticks: number }> | null = null;

/** CPU ticks (user + system, 1/100 s) of this process and its descendants, from /proc. */
function cpuTicks(): Map<number, { name: string; ticks: number }> {
  const all = new Map<number, { ppid: number; name: string; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const name = args.find((a) => a.endsWith('.js'))?.split('/').slice(-2).join('/') ?? args[0]!;
      all.set(Number(entry), { ppid: Number(fields[1]), name, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // gone meanwhile
    }
  }
  const out = new Map<number, { name: string; ticks: number }>();
  const within = (pid: number): boolean => {
    for (let at = pid, hops = 0; at > 1 && hops < 8; at = all.get(at)?.ppid ?? 0, hops++) if (at === process.pid) return true;
    return false;
  };
  for (const [pid, p] of all) if (within(pid)) out.set(pid, { name: p.name, ticks: p.ticks });
  return out;
}
try {
  // Quire: through the mailbox API (quick, so a profile is mostly the load); Dovecot: by APPEND.
  if (server === quire) for (const user of users) await quire.bulkInbox(user, messages, (i) => seededMessage(seed, i), messages + 1);
  else await seedInboxes(server.imapsPort, server.ca, users, messages, seed);
  const result = await driveSessions({
    sessions,
    durationMs,
    seed,
    open: (i) => openSession(server, users[i]!),
    step: (client, random, log) => {
      windowUs[0] ??= process.hrtime.bigint() / 1000n;
      cpuBefore ??= cpuTicks();
      return step(client, random, log, messages, weights);
    },
    close: (client) => client.logout(),
  });
  const fmt = (n: number): string => n.toFixed(2);
  // The load's window on the monotonic clock profiles are stamped with (µs): .cpuprofile samples inside it are the load's.
  console.log(`window ${windowUs[0]} ${process.hrtime.bigint() / 1000n}`);
  const cpuAfter = cpuTicks();
  const cpu = [...cpuAfter].map(([pid, p]) => `${p.name}[${pid}] ${((p.ticks - (cpuBefore?.get(pid)?.ticks ?? 0)) / 100).toFixed(2)}`);
  console.log(`cpu seconds in the window: ${cpu.join(', ')}`);
  console.log(`${subject} sessions=${sessions} messages=${messages}: ${fmt(result.commandsPerSec)} cmds/s, p50 ${fmt(result.latencyP50Ms)} ms, p99 ${fmt(result.latencyP99Ms)} ms`);
  for (const [kind, samples] of [...result.log.byKind].sort(([a], [b]) => a.localeCompare(b))) {
    const sorted = [...samples].sort((a, b) => a - b);
    const total = sorted.reduce((a, b) => a + b, 0);
    console.log(`  ${kind.padEnd(15)} n ${String(sorted.length).padStart(6)}  p50 ${fmt(percentileSorted(sorted, 50)).padStart(8)}  p99 ${fmt(percentileSorted(sorted, 99)).padStart(8)}  total ${fmt(total / 1000)} s`);
  }
} finally {
  if (server !== quire) await server.stop();
  await quire.stop();
}

/** The suite's large-mailbox samples on one server: fill (timed, not a result), open once, then `samples` samples. */
async function large(subject: string, messages: number, samples: number): Promise<void> {
  const dir = resolve('.cache/imapprobe-large');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const quire = await startQuire(dir, [bigUser]);
  const server = subject === 'dovecot' ? await startDovecot([bigUser], quire.tls, { strongHashes: false }) : quire;
  try {
    const started = performance.now();
    await server.bulkInbox(bigUser, messages, bigMessage, flaggedEvery);
    console.log(`fill ${messages}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await bigSample(server);
    for (let i = 0; i < samples; i++) console.log((await bigSample(server)).map((r) => `${r.metric} ${r.value.toFixed(1)} ms`).join(', '));
  } finally {
    if (server !== quire) await server.stop();
    await quire.stop();
  }
}
