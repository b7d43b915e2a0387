// The two mail servers the protocol suites compare, started the same way: a real `quire start`
// in this process (worker processes, RocksDB, its data directory on the repository's disk) and
// a throwaway Dovecot 2.3 from Debian (scripts/services), both with the same users, the same
// TLS certificate, and TLS from the first byte (Quire allows no login before TLS, so Dovecot
// runs TLS too: both sides pay the same crypto).

import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotMailUser } from '../../scripts/services/constants.js';
import { dovecot } from '../../scripts/services/services.js';
import { startServer } from '../../server/server.js';
import { addUser } from '../../server/users.js';
import { databasesDefault } from '../../server/paths.js';

export interface BenchUser {
  readonly name: string;
  readonly password: string;
}

export interface MailServer {
  readonly subject: 'quire' | 'dovecot';
  readonly imapsPort: number;
  readonly pop3sPort: number;
  readonly lmtpPort: number;
  /** The certificate a client trusts. */
  readonly ca: string;
  /**
   * Fills a user's INBOX with `count` messages the fastest way each server allows (set-up for
   * the large-mailbox figures, never timed): Quire through the mailbox API in large commits,
   * Dovecot as maildir files it indexes on first use. Every `flaggedEvery`-th is \Flagged.
   */
  bulkInbox(user: BenchUser, count: number, message: (index: number) => Uint8Array, flaggedEvery: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `bench<i>@example.org`, without spaces or colons (Dovecot's passwd-file). One password for
 * all, so Dovecot's strong hash is computed once at start.
 */
export function benchUsers(count: number): BenchUser[] {
  return Array.from({ length: count }, (_, i) => ({ name: `bench${i}@example.org`, password: benchPassword }));
}

export const benchPassword = 'bench-pw-7d1f';

/** Quire on `dataDir`, users spread over the default databases as a deployment would. */
export async function startQuire(dataDir: string, users: readonly BenchUser[]): Promise<MailServer & { tls: { cert: string; key: string } }> {
  const server = await startServer({
    dataDir,
    server: 'BENCH',
    domain: 'example.org',
    listen: '127.0.0.1',
    portOffset: 0,
    ports: 'ephemeral',
    logLevel: 'silent',
    say: () => undefined,
  });
  try {
    const databases = [...databasesDefault];
    for (const [i, user] of users.entries()) {
      const added = await addUser(server.directory, databases, (database) => server.supervisor.api(database), {
        address: user.name,
        password: user.password,
        database: databases[i % databases.length]!,
      });
      if (!added.ok) throw new Error(`adding ${user.name}: ${added.message}`);
    }
    const port = (service: 'imaps' | 'pop3s' | 'lmtp'): number => {
      const bound = server.ports[service];
      if (bound === undefined) throw new Error(`quire does not serve ${service}`);
      return bound;
    };
    return {
      subject: 'quire',
      imapsPort: port('imaps'),
      pop3sPort: port('pop3s'),
      lmtpPort: port('lmtp'),
      ca: server.tlsCert,
      tls: { cert: server.tlsCert, key: readFileSync(join(dataDir, 'tls', 'key.pem'), 'utf8') },
      async bulkInbox(user, count, message, flaggedEvery) {
        const found = await server.directory.findUser(user.name);
        if (found === null) throw new Error(`no user ${user.name}`);
        const api = server.supervisor.api(found.database);
        for (let first = 0; first < count; first += bulkCommitMessages) {
          const ops = [];
          for (let i = first; i < Math.min(count, first + bulkCommitMessages); i++) {
            ops.push({ op: 'append' as const, folder: 'INBOX', content: message(i), flags: i % flaggedEvery === 0 ? ['\\Flagged'] : [] });
          }
          const committed = await api.commit({ mailboxId: found.mailboxId, ops });
          if (!committed.ok) throw new Error(`bulk append: ${committed.message}`);
        }
      },
      stop: () => server.stop(),
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/**
 * Dovecot 2.3 (maildir, default fsync behaviour) with the same users and certificate. With
 * `strongHashes` its passwords are ARGON2ID hashes, costing a login about what Quire's scrypt
 * does (full runs); quick runs keep PLAIN to stay quick.
 */
export async function startDovecot(users: readonly BenchUser[], tls: { cert: string; key: string }, options: { strongHashes: boolean }): Promise<MailServer> {
  const handle = await dovecot.start({ users: users.map((u) => ({ name: u.name, password: u.password })), tls, passwordScheme: options.strongHashes ? 'ARGON2ID' : 'PLAIN' });
  return {
    subject: 'dovecot',
    imapsPort: handle.imapsPort,
    pop3sPort: handle.pop3sPort,
    lmtpPort: handle.lmtpPort,
    ca: tls.cert,
    async bulkInbox(user, count, message, flaggedEvery) {
      // The home the userdb gives (<mailDir>/<user>), owned by the mail user as Dovecot would make it.
      const ids = { uid: Number(execFileSync('id', ['-u', dovecotMailUser]).toString()), gid: Number(execFileSync('id', ['-g', dovecotMailUser]).toString()) };
      const home = join(handle.mailDir, user.name);
      const maildir = join(home, 'Maildir');
      for (const dir of [home, maildir, join(maildir, 'cur'), join(maildir, 'new'), join(maildir, 'tmp')]) {
        mkdirSync(dir, { recursive: true });
        chownSync(dir, ids.uid, ids.gid);
      }
      const stamp = Math.floor(Date.now() / 1000);
      for (let i = 0; i < count; i++) {
        const bytes = message(i);
        const file = join(maildir, 'cur', `${stamp}.M${i}P${process.pid}.bench,S=${bytes.length}:2,${i % flaggedEvery === 0 ? 'F' : ''}`);
        writeFileSync(file, bytes);
        chownSync(file, ids.uid, ids.gid);
      }
    },
    stop: () => handle.stop(),
  };
}

/** Appends per commit when filling a large Quire mailbox. */
const bulkCommitMessages = 1000;
