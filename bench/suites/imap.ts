// The `imap` suite: a mixed IMAP client load against Quire and Dovecot 2.3 in the same run.
// N concurrent sessions, one user each, every user's INBOX seeded with the same messages
// (bench/peers/mail.ts seededMessage) through IMAP APPEND. Each session logs in and selects
// INBOX outside the timed window, then runs closed-loop a seeded mix (the same sequence on both
// servers): FETCH flags / envelope / body, SEARCH, STORE, APPEND, EXPUNGE, IDLE, SELECT.
// Figures: commands/s, p50 and p99 latency over all commands, p50 per command kind, and the
// connect + TLS + LOGIN + SELECT time of a session.

import type { Reading, Suite, SuiteContext } from '../lib/suite.js';
import { driveSessions, ImapClient, loadReadings, seededMessage, seedInboxes, topics, weighted, type LatencyLog } from '../peers/mail.js';
import { benchPassword, benchUsers, startDovecot, startQuire, type BenchUser, type MailServer } from '../peers/mailservers.js';

const seed = 0x1a2b3c;

/** Relative weights of the command kinds in the mix. */
export const mix = {
  'FETCH FLAGS': 20,
  'FETCH ENVELOPE': 15,
  'FETCH BODY': 15,
  SEARCH: 10,
  STORE: 15,
  APPEND: 8,
  EXPUNGE: 7,
  IDLE: 5,
  SELECT: 5,
} as const;

interface Plan {
  readonly sessions: readonly number[];
  readonly messages: number;
  readonly durationMs: number;
  /** Messages of the large mailbox (issue: 100,000). */
  readonly bigMessages: number;
}

export const bigUser: BenchUser = { name: 'big@example.org', password: benchPassword };
export const flaggedEvery = 100;

/** A small distinct message (about 600 B) for the large mailbox. */
export function bigMessage(index: number): Uint8Array {
  return Buffer.from(
    `From: Sender ${index % 97} <s${index % 97}@example.net>\r\nTo: big@example.org\r\nSubject: message ${index}\r\n` +
      `Date: ${new Date(Date.UTC(2020, 0, 1) + index * 60_000).toUTCString().replace('GMT', '+0000')}\r\nMessage-ID: <big-${index}@example.net>\r\n\r\n` +
      `${'body text of a short message in a very large mailbox. '.repeat(8)}\r\n`,
  );
}

/**
 * The large-mailbox operations, each timed once per sample on a fresh session: SELECT with
 * CONDSTORE, UID FETCH 1:* (FLAGS), a flag SEARCH, and a CONDSTORE resync (FETCH CHANGEDSINCE
 * the modseq before a STORE of 5 messages).
 */
export async function bigSample(server: MailServer): Promise<Reading[]> {
  const client = await ImapClient.connect(server.imapsPort, server.ca);
  try {
    await client.login(bigUser.name, bigUser.password);
    const timed = async (fn: () => Promise<string[]>): Promise<[number, string[]]> => {
      const started = performance.now();
      const lines = await fn();
      return [performance.now() - started, lines];
    };
    const [selectMs, selected] = await timed(() => client.command('SELECT INBOX (CONDSTORE)'));
    const modseq = selected.map((l) => /HIGHESTMODSEQ (\d+)/.exec(l)?.[1]).find((m) => m !== undefined);
    if (modseq === undefined) throw new Error(`${server.subject}: no HIGHESTMODSEQ in SELECT`);
    const [fetchMs, flags] = await timed(() => client.command('UID FETCH 1:* (FLAGS)'));
    const [searchMs, found] = await timed(() => client.command('UID SEARCH FLAGGED'));
    await client.command(`STORE 1:5 ${Math.random() < 0.5 ? '+' : '-'}FLAGS.SILENT (\\Seen)`);
    const [resyncMs, changed] = await timed(() => client.command(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq})`));
    // The answers must be whole: every message's flags, the flagged ones, the changed ones.
    if (flags.length < client.exists) throw new Error(`${server.subject}: FETCH FLAGS gave ${flags.length} of ${client.exists}`);
    if (found.length !== 1) throw new Error(`${server.subject}: SEARCH FLAGGED gave ${found.length} lines`);
    if (changed.length > 5 + flaggedEvery) throw new Error(`${server.subject}: CHANGEDSINCE gave ${changed.length} messages`);
    return [
      { metric: 'large SELECT', unit: 'ms', value: selectMs },
      { metric: 'large FETCH 1:* FLAGS', unit: 'ms', value: fetchMs },
      { metric: 'large SEARCH FLAGGED', unit: 'ms', value: searchMs },
      { metric: 'large CONDSTORE resync', unit: 'ms', value: resyncMs },
    ];
  } finally {
    await client.logout();
  }
}

async function append(client: ImapClient, random: () => number, log: LatencyLog): Promise<void> {
  const content = seededMessage(seed, 1_000_000 + Math.floor(random() * 1_000_000));
  await log.time('APPEND', () => client.command('APPEND INBOX', content));
}

/** One step of a session's mix (bench/tools/imapprobe.ts runs it with other weights). */
export async function step(client: ImapClient, random: () => number, log: LatencyLog, baseMessages: number, weights: Readonly<Record<keyof typeof mix, number>> = mix): Promise<void> {
  const kind = weighted(random, weights);
  const message = (): number => 1 + Math.floor(random() * Math.max(1, client.exists));
  switch (kind) {
    case 'FETCH FLAGS':
      await log.time(kind, () => client.command('UID FETCH 1:* (FLAGS)'));
      return;
    case 'FETCH ENVELOPE': {
      const first = message();
      await log.time(kind, () => client.command(`FETCH ${first}:${Math.min(client.exists, first + 9)} (ENVELOPE)`));
      return;
    }
    case 'FETCH BODY':
      await log.time(kind, () => client.command(`FETCH ${message()} (BODY.PEEK[])`));
      return;
    case 'SEARCH': {
      const query = random() < 0.5 ? 'UNSEEN' : `SUBJECT "${topics[Math.floor(random() * topics.length)]}"`;
      await log.time(kind, () => client.command(`SEARCH ${query}`));
      return;
    }
    case 'STORE': {
      const sign = random() < 0.5 ? '+' : '-';
      await log.time(kind, () => client.command(`STORE ${message()} ${sign}FLAGS (\\Seen)`));
      return;
    }
    case 'EXPUNGE':
      // Keeps the mailbox near its seeded size: only what the load appended is expunged.
      if (client.exists > baseMessages) {
        const last = client.exists;
        await log.time('STORE', () => client.command(`STORE ${last} +FLAGS.SILENT (\\Deleted)`));
        await log.time(kind, () => client.command('EXPUNGE'));
      } else {
        // Nothing of ours to expunge yet: append instead.
        await append(client, random, log);
      }
      return;
    case 'APPEND':
      await append(client, random, log);
      return;
    case 'IDLE':
      await log.time(kind, () => client.idle());
      return;
    case 'SELECT':
      await log.time(kind, () => client.select('INBOX'));
      return;
  }
}

/** A session of the load: connected over TLS, logged in, INBOX selected. */
export async function openSession(server: MailServer, user: BenchUser): Promise<ImapClient> {
  const client = await ImapClient.connect(server.imapsPort, server.ca);
  await client.login(user.name, user.password);
  await client.select('INBOX');
  return client;
}

async function sample(server: MailServer, users: readonly BenchUser[], sessions: number, plan: Plan) {
  const result = await driveSessions({
    sessions,
    durationMs: plan.durationMs,
    seed,
    open: (i) => openSession(server, users[i]!),
    step: (client, random, log) => step(client, random, log, plan.messages),
    close: (client) => client.logout(),
  });
  return [...loadReadings(result), { metric: 'session open p50', unit: 'ms', value: result.openP50Ms }];
}

const suite: Suite = {
  name: 'imap',
  description: 'mixed IMAP load (FETCH, SEARCH, STORE, APPEND, EXPUNGE, IDLE, SELECT) from N sessions over TLS, Quire vs Dovecot 2.3',
  chartMetrics: ['commands', 'latency p50', 'latency p99'],
  async run(ctx: SuiteContext) {
    const plan: Plan = ctx.quick ? { sessions: [2], messages: 20, durationMs: 400, bigMessages: 1_000 } : { sessions: [4, 32], messages: 200, durationMs: 3000, bigMessages: 100_000 };
    const users = benchUsers(Math.max(...plan.sessions));
    const quire = await startQuire(await ctx.scratch('quire'), [...users, bigUser]);
    let dovecot: MailServer | undefined;
    try {
      dovecot = await startDovecot([...users, bigUser], quire.tls, { strongHashes: !ctx.quick });
      for (const server of [quire, dovecot]) await ctx.measure(`seed ${server.subject}: ${users.length} × ${plan.messages} messages by APPEND`, () => seedInboxes(server.imapsPort, server.ca, users, plan.messages, seed));
      for (const sessions of plan.sessions) {
        await ctx.compare(
          { sessions, messages: plan.messages },
          { quire: () => sample(quire, users, sessions, plan), dovecot: () => sample(dovecot!, users, sessions, plan) },
        );
      }
      for (const server of [quire, dovecot]) {
        await ctx.measure(`fill ${server.subject}: ${plan.bigMessages} messages in one INBOX`, () => server.bulkInbox(bigUser, plan.bigMessages, bigMessage, flaggedEvery));
        // The first SELECT builds Dovecot's index of the maildir; neither server is timed cold.
        await ctx.measure(`first SELECT of the large mailbox on ${server.subject}`, () => bigSample(server));
      }
      await ctx.compare({ messages: plan.bigMessages }, { quire: () => bigSample(quire), dovecot: () => bigSample(dovecot!) });
      ctx.note(`Large mailbox: ${plan.bigMessages} messages of about 600 B (1 in ${flaggedEvery} \\Flagged), filled through the mailbox API (Quire) and as maildir files (Dovecot), then opened once untimed; each sample times SELECT (CONDSTORE), UID FETCH 1:* (FLAGS), UID SEARCH FLAGGED and UID FETCH 1:* (FLAGS) (CHANGEDSINCE m) after a STORE of 5 messages, on a fresh session.`);
      ctx.note(`Mix weights: ${Object.entries(mix).map(([k, w]) => `${k} ${w}`).join(', ')}; EXPUNGE = STORE \\Deleted on the last message + EXPUNGE, only above the seeded size (else an APPEND).`);
      ctx.note('Both servers over TLS from the first byte (same certificate), on the same machine as the load generator. Dovecot: maildir, default fsync settings, passwords as ARGON2ID hashes (PLAIN in quick runs); Quire: scrypt hashes: "session open" pays a comparable hash on both.');
      ctx.note(`Each session's command sequence comes from seed ${seed} + session index, the same for both servers; a sample runs ${plan.durationMs} ms after every session is logged in.`);
    } finally {
      await dovecot?.stop();
      await quire.stop();
    }
  },
};

export default suite;
