// The `pop3` suite: a POP3 download load against Quire and Dovecot 2.3 in the same run. N
// concurrent sessions (one user each; POP3 locks the maildrop) over TLS on INBOXes seeded with
// the same messages. Each session logs in outside the timed window, then runs closed-loop a
// seeded mix (the same sequence on both servers): STAT, LIST, UIDL, RETR, TOP, NOOP, and
// DELE followed by RSET (marks only: the maildrop is the same for every round). Figures:
// commands/s, p50 and p99 latency over all commands, p50 per command, session open time.

import type { Suite, SuiteContext } from '../lib/suite.js';
import { driveSessions, loadReadings, Pop3Client, seedInboxes, weighted, type LatencyLog } from '../peers/mail.js';
import { benchUsers, startDovecot, startQuire, type BenchUser, type MailServer } from '../peers/mailservers.js';

const seed = 0x9090;

const mix = { STAT: 10, LIST: 10, UIDL: 15, RETR: 35, TOP: 15, NOOP: 10, DELE: 5 } as const;

interface Plan {
  readonly sessions: readonly number[];
  readonly messages: number;
  readonly durationMs: number;
}

async function step(client: Pop3Client, random: () => number, log: LatencyLog, messages: number): Promise<void> {
  const kind = weighted(random, mix);
  const message = 1 + Math.floor(random() * messages);
  switch (kind) {
    case 'STAT':
    case 'NOOP':
      await log.time(kind, () => client.command(kind));
      return;
    case 'LIST':
    case 'UIDL':
      await log.time(kind, () => client.multiline(kind));
      return;
    case 'RETR':
      await log.time(kind, () => client.multiline(`RETR ${message}`));
      return;
    case 'TOP':
      await log.time(kind, () => client.multiline(`TOP ${message} 5`));
      return;
    case 'DELE':
      await log.time(kind, () => client.command(`DELE ${message}`));
      await log.time('RSET', () => client.command('RSET'));
      return;
  }
}

async function sample(server: MailServer, users: readonly BenchUser[], sessions: number, plan: Plan) {
  const result = await driveSessions({
    sessions,
    durationMs: plan.durationMs,
    seed,
    open: async (i) => {
      const client = await Pop3Client.connect(server.pop3sPort, server.ca);
      await client.login(users[i]!.name, users[i]!.password);
      return client;
    },
    step: (client, random, log) => step(client, random, log, plan.messages),
    // Every DELE was RSET: QUIT deletes nothing, and releases the maildrop for the next round.
    close: async (client) => {
      await client.command('QUIT');
      client.close();
    },
  });
  return [...loadReadings(result), { metric: 'session open p50', unit: 'ms', value: result.openP50Ms }];
}

const suite: Suite = {
  name: 'pop3',
  description: 'POP3 download load (STAT, LIST, UIDL, RETR, TOP, DELE/RSET) from N sessions over TLS, Quire vs Dovecot 2.3',
  chartMetrics: ['commands', 'latency p50', 'latency p99'],
  async run(ctx: SuiteContext) {
    const plan: Plan = ctx.quick ? { sessions: [2], messages: 20, durationMs: 400 } : { sessions: [4, 32], messages: 200, durationMs: 3000 };
    const users = benchUsers(Math.max(...plan.sessions));
    const quire = await startQuire(await ctx.scratch('quire'), users);
    let dovecot: MailServer | undefined;
    try {
      dovecot = await startDovecot(users, quire.tls, { strongHashes: !ctx.quick });
      for (const server of [quire, dovecot]) {
        await ctx.measure(`seed ${server.subject}: ${users.length} × ${plan.messages} messages by IMAP APPEND`, () => seedInboxes(server.imapsPort, server.ca, users, plan.messages, seed));
      }
      for (const sessions of plan.sessions) {
        await ctx.compare(
          { sessions, messages: plan.messages },
          { quire: () => sample(quire, users, sessions, plan), dovecot: () => sample(dovecot!, users, sessions, plan) },
        );
      }
      ctx.note(`Mix weights: ${Object.entries(mix).map(([k, w]) => `${k} ${w}`).join(', ')}; each DELE is followed by RSET, so QUIT deletes nothing and every round sees the same maildrop.`);
      ctx.note('Both servers over TLS from the first byte (same certificate). Dovecot: maildir, default settings, passwords as ARGON2ID hashes (PLAIN in quick runs); Quire: scrypt hashes.');
    } finally {
      await dovecot?.stop();
      await quire.stop();
    }
  },
};

export default suite;
