// The FrontEndContext of protocols/frontend.ts, made from the directory and the supervisor:
// logins checked by the directory and slowed down after failures, recipients resolved,
// per-user session counts, and each database's mailbox API.

import type { MailboxApi } from '../engine/api.js';
import { messageBytesMax } from '../engine/constants.js';
import { fail, ok, type Result } from '../engine/errors.js';
import type { Directory, DirectoryUser } from '../engine/directory/index.js';
import type { Account, FrontEndContext, FrontEndLimits, FrontEndLog, FrontEndMetrics, MailSubmission, Peer, SessionLease } from '../protocols/frontend.js';
import type { PublicFolders } from './publicfolders.js';

export const frontEndLimitsDefault: FrontEndLimits = {
  sessionsPerUser: 50,
  connectionsPerAddress: 100,
  connectionsPerPort: 5_000,
  // RFC 9051 sec. 5.4: an autologout timer must be at least 30 minutes.
  idleMs: 30 * 60_000,
  messageBytesMax,
};

export interface ThrottleOptions {
  /** Failures allowed per key before answers are slowed. */
  readonly failuresFree: number;
  readonly delayMsBase: number;
  readonly delayMsMax: number;
  /** A key's failures are forgotten after this long without a new one. */
  readonly windowMs: number;
  /** Keys remembered at most (oldest forgotten first), so an attack cannot grow memory. */
  readonly keysMax: number;
}

export const throttleDefault: ThrottleOptions = { failuresFree: 3, delayMsBase: 250, delayMsMax: 8_000, windowMs: 15 * 60_000, keysMax: 100_000 };

/**
 * Failed-login slow-down, per remote address and per login name: after `failuresFree`
 * failures each further attempt waits twice as long as the one before, up to `delayMsMax`.
 * The wait happens before the password is checked, so guessing gets no faster by parallel
 * connections from one address or against one user.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, { failures: number; lastMs: number }>();
  constructor(
    private readonly nowMs: () => number,
    private readonly options: ThrottleOptions = throttleDefault,
  ) {}

  delayMs(keys: readonly string[]): number {
    let delay = 0;
    for (const key of keys) {
      const entry = this.current(key);
      if (entry === undefined || entry.failures <= this.options.failuresFree) continue;
      const steps = entry.failures - this.options.failuresFree - 1;
      delay = Math.max(delay, Math.min(this.options.delayMsMax, this.options.delayMsBase * 2 ** Math.min(steps, 30)));
    }
    return delay;
  }

  failed(keys: readonly string[]): void {
    for (const key of keys) {
      const failures = (this.current(key)?.failures ?? 0) + 1;
      this.entries.delete(key);
      this.entries.set(key, { failures, lastMs: this.nowMs() });
    }
    while (this.entries.size > this.options.keysMax) this.entries.delete(this.entries.keys().next().value!);
  }

  /** A good login clears its user's count (not its address's: one good account does not whitelist a host). */
  succeeded(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private current(key: string): { failures: number; lastMs: number } | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined && this.nowMs() - entry.lastMs > this.options.windowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }
}

export const silentLog: FrontEndLog = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLog,
};

export const noMetrics: FrontEndMetrics = {
  sessionOpened: () => undefined,
  sessionClosed: () => undefined,
  command: () => undefined,
  authFailure: () => undefined,
  delivery: () => undefined,
};

export interface FrontEndContextOptions {
  readonly directory: Directory;
  readonly mailboxes: (database: string) => MailboxApi;
  readonly hostname: string;
  readonly serverName: string;
  readonly tls: { readonly cert: string; readonly key: string };
  readonly limits?: FrontEndLimits;
  readonly log?: FrontEndLog;
  readonly metrics?: FrontEndMetrics;
  readonly throttle?: ThrottleOptions;
  readonly nowMs?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** The running server's mail submission, once its mail flow runs (server.ts sets it after the front ends). */
  readonly mailSubmission?: () => MailSubmission | null;
  /** Public folders: listed to the front ends; mail-enabled ones receive mail at their addresses. */
  readonly publicFolders?: PublicFolders;
}

export function accountOf(user: DirectoryUser): Account {
  return {
    address: user.address,
    mailboxId: user.mailboxId,
    database: user.database,
    displayName: user.displayName,
    quotaBytes: user.quotaBytes,
    aliases: user.aliases,
  };
}

/** Runs a directory call; a thrown error (LDAP down, socket reset) is DIRECTORY_UNAVAILABLE. */
async function asking<T>(call: () => Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await call();
  } catch (error) {
    return fail('DIRECTORY_UNAVAILABLE', `the directory cannot be reached: ${(error as Error).message}`);
  }
}

/** The server's side of the context: what only the server may do to the front ends' sessions. */
export interface ServerFrontEndContext extends FrontEndContext {
  /** Tells every open session of the mailbox that it moved (SessionLease.onMoved); answers how many were told. */
  mailboxMoved(mailboxId: string): number;
}

export function createFrontEndContext(options: FrontEndContextOptions): ServerFrontEndContext {
  const nowMs = options.nowMs ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const throttle = new LoginThrottle(nowMs, options.throttle);
  const limits = options.limits ?? frontEndLimitsDefault;
  const metrics = options.metrics ?? noMetrics;
  const sessions = new Map<string, number>();
  /** Open sessions by mailbox id, each with the listeners it gave onMoved. */
  const open = new Map<string, Set<Array<() => void>>>();
  const movedListeners = new Set<(mailboxId: string) => void>();
  const { directory } = options;

  return {
    hostname: options.hostname,
    serverName: options.serverName,
    tls: options.tls,
    limits,
    log: options.log ?? silentLog,
    metrics,

    async authenticate(login: string, password: string, peer: Peer): Promise<Result<Account>> {
      const loginKey = `login:${login.trim().toLowerCase()}`;
      const keys = [`address:${peer.address}`, loginKey];
      const delay = throttle.delayMs(keys);
      if (delay > 0) await sleep(delay);
      const checked = await asking(() => directory.authenticate(login, password));
      if (checked.ok) {
        throttle.succeeded(loginKey);
        return ok(accountOf(checked.value));
      }
      if (checked.code === 'AUTHENTICATION_FAILED') {
        throttle.failed(keys);
        metrics.authFailure(peer.protocol);
      }
      return checked;
    },

    async findAccount(address: string): Promise<Result<Account | null>> {
      return asking(async () => {
        const user = await directory.findUser(address);
        return ok(user === null ? null : accountOf(user));
      });
    },

    async resolveRecipient(address: string): Promise<Result<Account[]>> {
      return asking(async () => {
        const resolved = await directory.resolveRecipient(address);
        if (resolved.ok) return ok(resolved.value.map(accountOf));
        if (resolved.code !== 'NO_SUCH_USER' || options.publicFolders === undefined) return resolved;
        // Not a user, alias or group: maybe a mail-enabled public folder.
        const folder = await options.publicFolders.recipient(address);
        if (!folder.ok) return folder;
        return folder.value === null ? resolved : ok([folder.value]);
      });
    },

    async isAcceptedDomain(domain: string): Promise<Result<boolean>> {
      return asking(async () => ok(await directory.isAcceptedDomain(domain)));
    },

    mailboxes: options.mailboxes,
    ...(options.mailSubmission === undefined ? {} : { mailSubmission: options.mailSubmission }),
    ...(options.publicFolders === undefined ? {} : { publicFolders: options.publicFolders }),

    openSession(account: Account, _peer: Peer): Result<SessionLease> {
      const count = sessions.get(account.address) ?? 0;
      if (count >= limits.sessionsPerUser) {
        return fail('LIMIT', `${account.address} already has ${count} sessions open (the limit is ${limits.sessionsPerUser})`);
      }
      sessions.set(account.address, count + 1);
      const listeners: Array<() => void> = [];
      const ofMailbox = open.get(account.mailboxId) ?? new Set();
      ofMailbox.add(listeners);
      open.set(account.mailboxId, ofMailbox);
      let released = false;
      return ok({
        release() {
          if (released) return;
          released = true;
          const left = (sessions.get(account.address) ?? 1) - 1;
          if (left <= 0) sessions.delete(account.address);
          else sessions.set(account.address, left);
          ofMailbox.delete(listeners);
          if (ofMailbox.size === 0 && open.get(account.mailboxId) === ofMailbox) open.delete(account.mailboxId);
        },
        onMoved(listener: () => void) {
          if (!released) listeners.push(listener);
        },
      });
    },

    onMailboxMoved(listener: (mailboxId: string) => void): () => void {
      movedListeners.add(listener);
      return () => movedListeners.delete(listener);
    },

    mailboxMoved(mailboxId: string): number {
      for (const listener of movedListeners) listener(mailboxId);
      const told = [...(open.get(mailboxId) ?? [])];
      for (const listeners of told) {
        for (const listener of listeners.splice(0)) {
          try {
            listener();
          } catch (error) {
            (options.log ?? silentLog).error({ err: String(error), mailboxId }, 'a session failed to end after its mailbox moved');
          }
        }
      }
      return told.length;
    },
  };
}
