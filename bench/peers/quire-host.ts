// The process Quire runs in during the protocol suites: a real `quire start` (its front ends
// here, its databases in their own worker processes) away from the load generator, as Dovecot
// is. The bench process drives it over IPC (mailservers.ts startQuire): start with users, fill
// an INBOX through the mailbox API (set-up, never timed), stop.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type RunningServer, startServer } from '../../server/server.js';
import { addUser } from '../../server/users.js';
import { databasesDefault } from '../../server/paths.js';
import { tlsFolderName, tlsKeyFileName } from '../../engine/directory/secrets.js';
import type { BenchUser } from './mailservers.js';

export type HostRequest =
  | { readonly kind: 'start'; readonly dataDir: string; readonly users: readonly BenchUser[] }
  | { readonly kind: 'bulk'; readonly user: string; readonly contents: readonly Uint8Array[]; readonly flagged: readonly boolean[] }
  | { readonly kind: 'memory' }
  | { readonly kind: 'settle' }
  | { readonly kind: 'stop' };

export type HostReply =
  | { readonly kind: 'started'; readonly ports: { imaps: number; pop3s: number; lmtp: number }; readonly cert: string; readonly key: string }
  | { readonly kind: 'done' }
  | { readonly kind: 'memory'; readonly heapUsedBytes: number; readonly rssBytes: number }
  | { readonly kind: 'error'; readonly message: string };

let server: RunningServer | null = null;
const settleWaitMsMax = 300_000;

async function handle(request: HostRequest): Promise<HostReply> {
  switch (request.kind) {
    case 'start': {
      server = await startServer({
        dataDir: request.dataDir,
        server: 'BENCH',
        domain: 'example.org',
        listen: '127.0.0.1',
        portOffset: 0,
        ports: 'ephemeral',
        logLevel: 'silent',
        say: () => undefined,
      });
      const databases = [...databasesDefault];
      for (const [i, user] of request.users.entries()) {
        // A data directory reused between runs (bench/tools/imapprobe.ts large --reuse) has its users already.
        if ((await server.directory.findUser(user.name)) !== null) continue;
        const added = await addUser(server.directory, databases, (database) => server!.supervisor.api(database), {
          address: user.name,
          password: user.password,
          database: databases[i % databases.length]!,
        });
        if (!added.ok) throw new Error(`adding ${user.name}: ${added.message}`);
      }
      const port = (service: 'imaps' | 'pop3s' | 'lmtp'): number => {
        const bound = server!.ports[service];
        if (bound === undefined) throw new Error(`quire does not serve ${service}`);
        return bound;
      };
      return {
        kind: 'started',
        ports: { imaps: port('imaps'), pop3s: port('pop3s'), lmtp: port('lmtp') },
        cert: server.tlsCert,
        key: readFileSync(join(request.dataDir, tlsFolderName, tlsKeyFileName), 'utf8'),
      };
    }
    case 'bulk': {
      const found = await server!.directory.findUser(request.user);
      if (found === null) throw new Error(`no user ${request.user}`);
      const ops = request.contents.map((content, i) => ({ op: 'append' as const, folder: 'INBOX', content, flags: request.flagged[i] ? ['\\Flagged'] : [] }));
      const committed = await server!.supervisor.api(found.database).commit({ mailboxId: found.mailboxId, ops });
      if (!committed.ok) throw new Error(`bulk append: ${committed.message}`);
      return { kind: 'done' };
    }
    case 'memory': {
      // After a full collection, so that the figure is what is held (bench/tools/imapprobe.ts large).
      setFlagsFromString('--expose-gc');
      (runInNewContext('gc') as () => void)();
      const used = process.memoryUsage();
      return { kind: 'memory', heapUsedBytes: used.heapUsed + used.arrayBuffers, rssBytes: used.rss };
    }
    case 'settle': {
      // Until every copy's content index is loaded or built (a restart on a reused data dir
      // loads the snapshot in each copy's worker: seconds of CPU that timed samples must not share).
      for (let waited = 0; waited < settleWaitMsMax; waited += 250) {
        const copies = await server!.supervisor.list();
        if (copies.every((c) => c.contentIndexState !== 'Crawling')) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      return { kind: 'done' };
    }
    case 'stop':
      await server?.stop();
      server = null;
      return { kind: 'done' };
  }
}

process.on('message', (request: HostRequest) => {
  handle(request).then(
    (reply) => {
      process.send!(reply);
      if (request.kind === 'stop') process.disconnect();
    },
    (error: unknown) => process.send!({ kind: 'error', message: error instanceof Error ? error.stack ?? error.message : String(error) }),
  );
});
