// Where the IMAP suite's time goes, per command kind (not a suite: one server at a time, no
// ratio). Starts Quire (its own process, as the suite does) or Dovecot, seeds N users' INBOXes
// with the suite's messages, then runs the suite's mix, or only the kinds named, from N
// sessions closed-loop and prints commands/s and p50/p99 per kind.
//
//   npm run build && node dist/bench/tools/imapprobe.js quire 32 200 3000 [KIND,KIND...]
//   node dist/bench/tools/imapprobe.js dovecot 32 200 3000 'FETCH ENVELOPE'
//   node dist/bench/tools/imapprobe.js quire large 100000 3   (the suite's large-mailbox samples)
//   node dist/bench/tools/imapprobe.js both large 100000 5 --reuse   (Quire and Dovecot in one run,
//     medians and ratios; --reuse keeps Quire's filled data dir in .cache/imapprobe-large for the next run)
//
// Profile Quire's host and workers with `node --cpu-prof --cpu-prof-dir=.cache/prof
// dist/bench/tools/imapprobe.js ...` (Node 20 refuses --cpu-prof in NODE_OPTIONS; forked
// processes inherit the flag, so every Node process the probe starts writes a .cpuprofile
// there). The profiler samples wall time: a process waiting for a CPU slice on a loaded machine
// shows it in whatever it was running (often writeBuffer, just after waking another process),
// so weigh a profile against the CPU seconds the probe prints from /proc.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { percentileSorted } from '../lib/stats.js';
import { driveSessions, ImapClient, seededMessage, seedInboxes } from '../peers/mail.js';
import { benchUsers, startDovecot, startQuire, type MailServer } from '../peers/mailservers.js';
import { bigMessage, bigSample, bigUser, flaggedEvery, mix, openSession, step } from '../suites/imap.js';

const subject = process.argv[2] ?? 'quire';
if (process.argv[3] === 'large') {
  const args = process.argv.slice(4).filter((a) => a !== '--reuse');
  await large(subject, Number(args[0] ?? 100_000), Number(args[1] ?? 3), process.argv.includes('--reuse'));
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

/**
 * The suite's large-mailbox samples (bigSample) on Quire, Dovecot or both in the same run
 * (samples alternate, Quire first on even rounds): fill (timed, not a result), open once, then
 * `samples` samples, the median of each operation, the ratio, the load, and the Quire host's
 * heap held by one session with the mailbox selected. `--reuse` keeps Quire's data directory
 * (.cache/imapprobe-large, marked with the count it holds) so the next run skips the fill.
 */
async function large(subject: string, messages: number, samples: number, reuse: boolean): Promise<void> {
  const dir = resolve('.cache/imapprobe-large');
  const marker = join(dir, 'bench-filled');
  const filled = reuse && existsSync(marker) && readFileSync(marker, 'utf8') === String(messages);
  if (!filled) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const quire = await startQuire(dir, [bigUser]);
  const servers: MailServer[] = [];
  try {
    if (subject !== 'dovecot') servers.push(quire);
    if (subject !== 'quire') servers.push(await startDovecot([bigUser], quire.tls, { strongHashes: false }));
    for (const server of servers) {
      if (server === quire && filled) {
        const started = performance.now();
        await quire.settle();
        console.log(`fill ${messages}: reused ${dir} (content index loaded in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
      } else {
        const started = performance.now();
        await server.bulkInbox(bigUser, messages, bigMessage, flaggedEvery);
        console.log(`fill ${server.subject} ${messages}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
        if (server === quire) writeFileSync(marker, String(messages));
      }
      await bigSample(server);
    }
    const figures = new Map<string, number[]>();
    const cpuBefore = cpuTicks();
    for (let i = 0; i < samples; i++) {
      const order = i % 2 === 0 ? servers : [...servers].reverse();
      for (const server of order) {
        const readings = await bigSample(server);
        console.log(`${server.subject}: ${readings.map((r) => `${r.metric} ${r.value.toFixed(1)} ms`).join(', ')}`);
        for (const r of readings) figures.set(`${server.subject} ${r.metric}`, [...(figures.get(`${server.subject} ${r.metric}`) ?? []), r.value]);
      }
    }
    // CPU is what a loaded machine does not inflate: each process's seconds over all the samples.
    const cpuAfter = cpuTicks();
    const cpu = [...cpuAfter].map(([pid, p]) => [p.name, (p.ticks - (cpuBefore.get(pid)?.ticks ?? 0)) / 100] as const).filter(([, seconds]) => seconds > 0);
    console.log(`cpu seconds over the ${samples} samples: ${cpu.map(([name, seconds]) => `${name} ${seconds.toFixed(2)}`).join(', ')}`);
    const median = (xs: readonly number[]): number => percentileSorted([...xs].sort((a, b) => a - b), 50);
    for (const metric of ['large SELECT', 'large FETCH 1:* FLAGS', 'large SEARCH FLAGGED', 'large CONDSTORE resync']) {
      const line = servers.map((server) => `${server.subject} ${median(figures.get(`${server.subject} ${metric}`)!).toFixed(1)} ms`);
      const ratio = servers.length === 2 ? `, ratio ${(median(figures.get(`quire ${metric}`)!) / median(figures.get(`dovecot ${metric}`)!)).toFixed(2)}` : '';
      console.log(`median ${metric}: ${line.join(', ')}${ratio}`);
    }
    if (servers.includes(quire)) {
      // Several sessions hold it at once, so that one session's share stands out of the heap's noise.
      const holders = 4;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const before = await quire.memory();
      const clients = await Promise.all(Array.from({ length: holders }, () => ImapClient.connect(quire.imapsPort, quire.ca)));
      for (const client of clients) {
        await client.login(bigUser.name, bigUser.password);
        await client.command('SELECT INBOX (CONDSTORE)');
      }
      const held = await quire.memory();
      for (const client of clients) await client.logout();
      // The sessions' state is let go once their sockets close: measured again a moment later.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const after = await quire.memory();
      const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
      const per = (from: number): string => mib((held.heapUsedBytes - from) / holders);
      console.log(
        `quire host heap per session holding the ${messages}-message INBOX selected: ${per(after.heapUsedBytes)} MiB against the heap after they closed, ${per(before.heapUsedBytes)} MiB against before (${holders} sessions: heap ${mib(before.heapUsedBytes)} -> ${mib(held.heapUsedBytes)} -> ${mib(after.heapUsedBytes)} MiB, rss ${mib(held.rssBytes)} MiB)`,
      );
    }
    console.log(`load: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    for (const server of servers) if (server !== quire) await server.stop();
    await quire.stop();
  }
}
