// The `moves` suite: a mailbox move under concurrent delivery. One user's INBOX is filled, then
// moved between DB01 and DB02 (one direction per round) while N LMTP sessions keep delivering to
// it. Figures: how long the final lock held writes (`lockMs` of the move's status: from taking
// the lock to the directory switch), the whole move, the copy rate, and the deliveries that went
// on meanwhile (refused ones, 451 under the lock, are retried and not counted). Quire only: no
// peer in this run moves mailboxes online.

import { startServer } from '../../server/server.js';
import { addUser } from '../../server/users.js';
import { databasesDefault } from '../../server/paths.js';
import type { Reading, Suite, SuiteContext } from '../lib/suite.js';
import { LmtpClient, seededMessage } from '../peers/mail.js';

const seed = 0x30e5;
const address = 'mover@example.org';

async function deliverUntil(port: number, stop: () => boolean, counted: { delivered: number }): Promise<void> {
  let client = await LmtpClient.connect(port);
  for (let n = 0; !stop(); n++) {
    try {
      await client.deliver('sender@example.net', [address], seededMessage(seed, n));
      counted.delivered += 1;
    } catch {
      // 451 under the move's lock: a new session, the same kind of message again
      await client.quit().catch(() => undefined);
      client = await LmtpClient.connect(port);
    }
  }
  await client.quit().catch(() => undefined);
}

const suite: Suite = {
  name: 'moves',
  description: "a mailbox move under concurrent LMTP delivery: the final lock's length, the move's duration and copy rate",
  chartMetrics: ['final lock', 'move'],
  async run(ctx: SuiteContext) {
    const plan = ctx.quick ? { messages: 200, sessions: [2] } : { messages: 2_000, sessions: [1, 8] };
    const server = await startServer({ dataDir: await ctx.scratch('quire'), server: 'BENCH', domain: 'example.org', listen: '127.0.0.1', portOffset: 0, ports: 'ephemeral', logLevel: 'silent', say: () => undefined });
    try {
      const databases = [...databasesDefault];
      const added = await addUser(server.directory, databases, (database) => server.supervisor.api(database), { address, password: 'mover-password-1', database: 'DB01' });
      if (!added.ok) throw new Error(added.message);
      const api = server.supervisor.api('DB01');
      await ctx.measure(`filling the INBOX with ${plan.messages} messages`, async () => {
        for (let first = 0; first < plan.messages; first += 1000) {
          const ops = [];
          for (let i = first; i < Math.min(plan.messages, first + 1000); i++) ops.push({ op: 'append' as const, folder: 'INBOX', content: seededMessage(seed, i), flags: i % 3 === 0 ? ['\\Seen'] : [] });
          const done = await api.commit({ mailboxId: added.value.mailboxId, ops });
          if (!done.ok) throw new Error(done.message);
        }
      });
      for (const sessions of plan.sessions) {
        await ctx.compare({ messages: plan.messages, sessions }, {
          quire: async (): Promise<Reading[]> => {
            const user = (await server.directory.findUser(address))!;
            const to = user.database === 'DB01' ? 'DB02' : 'DB01';
            let stopping = false;
            const counted = { delivered: 0 };
            const load = Array.from({ length: sessions }, () => deliverUntil(server.ports.lmtp!, () => stopping, counted));
            const started = performance.now();
            const move = await server.moves.start(address, to);
            if (!move.ok) throw new Error(move.message);
            const finished = (await server.moves.wait(move.value.id))!;
            const elapsedMs = performance.now() - started;
            stopping = true;
            await Promise.all(load);
            if (finished.state !== 'done' || finished.lockMs === undefined) throw new Error(`move ${finished.state}: ${finished.error}`);
            return [
              { metric: 'final lock', unit: 'ms', value: finished.lockMs },
              { metric: 'move', unit: 'ms', value: elapsedMs },
              { metric: 'copy rate', unit: 'msgs/s', value: finished.messagesCopied / (elapsedMs / 1000) },
              { metric: 'deliveries during the move', unit: 'msgs/s', value: counted.delivered / (elapsedMs / 1000) },
            ];
          },
        });
      }
      ctx.note(`One user, ${plan.messages} seeded messages (1-12 KiB) plus what the load delivers; each round moves it to the other database while N LMTP sessions deliver to it. "final lock" is the move's lockMs: writes answer IN_USE (451 to LMTP) from taking the lock to the directory switch.`);
    } finally {
      await server.stop();
    }
  },
};

export default suite;
