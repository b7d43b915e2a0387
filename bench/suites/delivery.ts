// The `delivery` suite: durable LMTP deliveries per second, Quire against Dovecot 2.3's LMTP in
// the same run. N concurrent LMTP sessions (plain TCP on loopback for both: LMTP is the trusted
// MTA's hop), each delivering closed-loop seeded messages (1-12 KiB) to 1 or 4 recipients
// drawn from the same users; a delivery counts once every recipient got its 250, which both
// servers send only when the message is stored (Quire: durable in its log; Dovecot: its
// default fsync on save). Figures: messages/s, recipients/s, p50/p99 transaction latency.

import { percentileSorted } from '../lib/stats.js';
import type { Reading, Suite, SuiteContext } from '../lib/suite.js';
import { driveSessions, LmtpClient, seededMessage } from '../peers/mail.js';
import { benchUsers, startDovecot, startQuire, type BenchUser, type MailServer } from '../peers/mailservers.js';

const seed = 0x5e11;

interface Plan {
  readonly sessions: readonly number[];
  readonly recipients: readonly number[];
  readonly users: number;
  readonly durationMs: number;
}

async function sample(server: MailServer, users: readonly BenchUser[], sessions: number, recipients: number, plan: Plan): Promise<Reading[]> {
  const result = await driveSessions({
    sessions,
    durationMs: plan.durationMs,
    seed,
    open: () => LmtpClient.connect(server.lmtpPort),
    step: async (client, random, log) => {
      const to = new Set<string>();
      while (to.size < recipients) to.add(users[Math.floor(random() * users.length)]!.name);
      const message = seededMessage(seed, Math.floor(random() * 1_000_000));
      await log.time('LMTP', () => client.deliver('sender@example.net', [...to], message));
    },
    close: (client) => client.quit(),
  });
  const latencies = result.log.all().sort((a, b) => a - b);
  // One timed LMTP transaction per step: commands/s is deliveries/s.
  const perSec = result.commandsPerSec;
  return [
    { metric: 'deliveries', unit: 'msgs/s', value: perSec },
    { metric: 'recipients', unit: 'rcpts/s', value: perSec * recipients },
    { metric: 'latency p50', unit: 'ms', value: percentileSorted(latencies, 50) },
    { metric: 'latency p99', unit: 'ms', value: percentileSorted(latencies, 99) },
  ];
}

const suite: Suite = {
  name: 'delivery',
  description: 'durable LMTP deliveries/s from N concurrent sessions, 1 and 4 recipients, Quire vs Dovecot 2.3 LMTP',
  chartMetrics: ['deliveries', 'latency p99'],
  async run(ctx: SuiteContext) {
    const plan: Plan = ctx.quick ? { sessions: [2], recipients: [1], users: 4, durationMs: 400 } : { sessions: [1, 16, 64], recipients: [1, 4], users: 64, durationMs: 3000 };
    const users = benchUsers(plan.users);
    const quire = await startQuire(await ctx.scratch('quire'), users);
    let dovecot: MailServer | undefined;
    try {
      dovecot = await startDovecot(users, quire.tls, { strongHashes: !ctx.quick });
      for (const recipients of plan.recipients) {
        for (const sessions of plan.sessions) {
          await ctx.compare(
            { sessions, recipients },
            { quire: () => sample(quire, users, sessions, recipients, plan), dovecot: () => sample(dovecot!, users, sessions, recipients, plan) },
          );
        }
      }
      ctx.note(`${plan.users} users; messages from seededMessage (1-12 KiB plain text), recipients drawn with seed ${seed}; a delivery is one LMTP transaction, counted when every recipient has its 250.`);
      ctx.note('Dovecot 2.3 from Debian: maildir, default fsync settings (mail_fsync = optimized: fsync on save). Quire: every database commit is fsynced in its log (group commit).');
    } finally {
      await dovecot?.stop();
      await quire.stop();
    }
  },
};

export default suite;
