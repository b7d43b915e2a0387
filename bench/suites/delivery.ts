// The `delivery` suite: durable LMTP deliveries per second, Quire against Dovecot 2.3's LMTP in
// the same run. N concurrent LMTP sessions (plain TCP on loopback for both: LMTP is the trusted
// MTA's hop), each delivering closed-loop seeded messages (1-12 KiB) to 1 or 4 recipients
// drawn from the same users; a delivery counts once every recipient got its 250, which both
// servers send only when the message is stored (Quire: durable in its log; Dovecot: its
// default fsync on save). Figures: messages/s, recipients/s, p50/p99 transaction latency.
//
// Then an independent load: Postfix's smtp-source -L (Debian's postfix package, installed
// through the services provisioning; the postfix daemon is never started) delivering a fixed
// number of 4 KiB and 64 KiB messages over N persistent LMTP sessions to each server, timed
// from start to exit: deliveries/s by a client neither side wrote.

import { percentileSorted } from '../lib/stats.js';
import type { Reading, Suite, SuiteContext } from '../lib/suite.js';
import { driveSessions, LmtpClient, seededMessage } from '../peers/mail.js';
import { benchUsers, startDovecot, startQuire, type BenchUser, type MailServer } from '../peers/mailservers.js';
import { ensureSmtpSource, runSmtpSource } from '../peers/smtp-source.js';

const seed = 0x5e11;

interface Plan {
  readonly sessions: readonly number[];
  readonly recipients: readonly number[];
  readonly users: number;
  readonly durationMs: number;
  /** smtp-source: sessions, messages per session, payload sizes. */
  readonly source: { readonly sessions: number; readonly perSession: number; readonly bytes: readonly number[] };
}

async function smtpSourceSample(server: MailServer, users: readonly BenchUser[], bytes: number, plan: Plan): Promise<Reading[]> {
  const messages = plan.source.sessions * plan.source.perSession;
  const { elapsedMs } = await runSmtpSource({ lmtp: true, port: server.lmtpPort, sessions: plan.source.sessions, messages, bytes, from: 'sender@example.net', to: users[0]!.name });
  return [{ metric: 'smtp-source deliveries', unit: 'msgs/s', value: messages / (elapsedMs / 1000) }];
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
  description: 'durable LMTP deliveries/s from N concurrent sessions, 1 and 4 recipients, and from Postfix smtp-source -L, Quire vs Dovecot 2.3 LMTP',
  chartMetrics: ['deliveries', 'latency p99', 'smtp-source deliveries'],
  async run(ctx: SuiteContext) {
    const plan: Plan = ctx.quick
      ? { sessions: [2], recipients: [1], users: 4, durationMs: 400, source: { sessions: 2, perSession: 10, bytes: [4096] } }
      : { sessions: [1, 16, 64], recipients: [1, 4], users: 64, durationMs: 3000, source: { sessions: 16, perSession: 40, bytes: [4096, 65536] } };
    const users = benchUsers(plan.users);
    ensureSmtpSource();
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
      for (const bytes of plan.source.bytes) {
        await ctx.compare(
          { load: 'smtp-source -L', sessions: plan.source.sessions, bytes },
          { quire: () => smtpSourceSample(quire, users, bytes, plan), dovecot: () => smtpSourceSample(dovecot!, users, bytes, plan) },
        );
      }
      ctx.note(`smtp-source (Postfix 3.7, Debian): \`smtp-source -L -d -c -s ${plan.source.sessions} -m ${plan.source.sessions * plan.source.perSession} -l BYTES -f sender@example.net -t ${users[0]!.name} 127.0.0.1:PORT\`, one recipient per message (smtp-source numbers recipients when it sends several), timed from start to exit.`);
      ctx.note(`${plan.users} users; messages from seededMessage (1-12 KiB plain text), recipients drawn with seed ${seed}; a delivery is one LMTP transaction, counted when every recipient has its 250.`);
      ctx.note('Dovecot 2.3 from Debian: maildir, default fsync settings (mail_fsync = optimized: fsync on save). Quire: every database commit is fsynced in its log (group commit).');
    } finally {
      await dovecot?.stop();
      await quire.stop();
    }
  },
};

export default suite;
