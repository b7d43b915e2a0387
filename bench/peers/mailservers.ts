// The two mail servers the protocol suites compare, started the same way: a real `quire start`
// in a process of its own (worker processes, RocksDB, its data directory on the repository's disk) and
// a throwaway Dovecot 2.3 from Debian (scripts/services), both with the same users, the same
// TLS certificate, and TLS from the first byte (Quire allows no login before TLS, so Dovecot
// runs TLS too: both sides pay the same crypto).

import { execFileSync, fork } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dovecotMailUser } from '../../scripts/services/constants.js';
import { dovecot } from '../../scripts/services/services.js';
import type { HostReply, HostRequest } from './quire-host.js';

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

/**
 * Quire on `dataDir`, users spread over the default databases as a deployment would, in a
 * process of its own (quire-host.ts) so that the load generator does not share its event loop:
 * Dovecot too runs apart from the bench.
 */
export async function startQuire(
  dataDir: string,
  users: readonly BenchUser[],
): Promise<MailServer & { tls: { cert: string; key: string }; memory(): Promise<{ heapUsedBytes: number; rssBytes: number }>; settle(): Promise<void> }> {
  const child = fork(fileURLToPath(new URL('./quire-host.js', import.meta.url)), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`quire host exited (${code ?? signal})`))));
  exited.catch(() => undefined);
  // One request at a time: the suites await each call.
  const call = async (request: HostRequest): Promise<HostReply> => {
    const reply = new Promise<HostReply>((resolve) => child.once('message', (m: HostReply) => resolve(m)));
    child.send(request);
    const answer = await Promise.race([reply, exited]);
    if (answer.kind === 'error') throw new Error(`quire host: ${answer.message}`);
    return answer;
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await call({ kind: 'stop' }).catch(() => child.kill('SIGKILL'));
    await exited.catch(() => undefined);
  };
  try {
    const started = await call({ kind: 'start', dataDir, users });
    if (started.kind !== 'started') throw new Error(`quire host answered ${started.kind} to start`);
    return {
      subject: 'quire',
      imapsPort: started.ports.imaps,
      pop3sPort: started.ports.pop3s,
      lmtpPort: started.ports.lmtp,
      ca: started.cert,
      tls: { cert: started.cert, key: started.key },
      async bulkInbox(user, count, message, flaggedEvery) {
        for (let first = 0; first < count; first += bulkCommitMessages) {
          const indexes = Array.from({ length: Math.min(count, first + bulkCommitMessages) - first }, (_, k) => first + k);
          await call({ kind: 'bulk', user: user.name, contents: indexes.map(message), flagged: indexes.map((i) => i % flaggedEvery === 0) });
        }
      },
      /** The host process's heap (plus array buffers) after a full collection, and its RSS. */
      async memory() {
        const answer = await call({ kind: 'memory' });
        if (answer.kind !== 'memory') throw new Error(`quire host answered ${answer.kind} to memory`);
        return { heapUsedBytes: answer.heapUsedBytes, rssBytes: answer.rssBytes };
      },
      /** Waits until no copy's content index is still loading or crawling. */
      async settle() {
        await call({ kind: 'settle' });
      },
      stop,
    };
  } catch (error) {
    await stop();
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
