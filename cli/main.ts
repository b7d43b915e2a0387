// The `quire` command line. Every command takes --data DIR (default ./data or QUIRE_DATA) and
// finds the server running on that data directory by itself: with one running it goes through
// the admin API, with none it works on the files directly. Exit 0 on success; a one-line error
// and a non-zero status otherwise; --json for machine-readable listings.

import { request as httpsRequest } from 'node:https';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { MailboxApi } from '../engine/api.js';
import { MailboxDatabase } from '../engine/database.js';
import { type Directory, parseSize } from '../engine/directory/index.js';
import { nodeStorage, systemClock, systemPrng } from '../engine/io.js';
import { openRocksKv } from '../engine/state/rocks.js';
import { embeddedCopies } from '../engine/supervisor.js';
import { databasesDefault, readAdminToken, runningServer, type ServerFile } from '../server/paths.js';
import { openConfiguredDirectory } from '../server/directory.js';
import { StartError, startServer } from '../server/server.js';
import { addUser, listUsers, removeUser } from '../server/users.js';
import { newTransactionId } from '../server/delivery/index.js';
import { bounceIntoQueueDir, deleteFromQueueDir, flushQueueDir, outboundQueueDir, type QueueEntryView, readQueueDir, viewOf } from '../server/delivery/queue.js';
import { PublicFolders, publicFolderAdmin } from '../server/publicfolders.js';
import { roles, type Role } from '../protocols/acl.js';

const usage = `quire — an event-sourced mailbox server

usage:
  quire start [--data DIR] [--server NAME] [--domain NAME] [--listen ADDR] [--port-offset N|any]
              [--tls-cert FILE --tls-key FILE] [--durability async|sync] [--disk-free-min SIZE]
              [--kafka HOST:PORT[,...] --registry URL [--passive DB[,DB...]] [--mount-dial lossless|good|best]
               [--kafka-session-timeout-ms N]] [--restarts-before-failover N]
              [--ldap-url ldap://HOST:PORT --ldap-bind-dn DN --ldap-bind-password-file FILE --ldap-base-dn DN]
  quire user add ADDRESS --password PW [--database DB] [--quota SIZE]
  quire user list [--json]
  quire user remove ADDRESS
  quire user passwd ADDRESS --password PW
  quire domain add NAME
  quire domain list [--json]
  quire db list [--json]
  quire db switchover DB --to SERVER[#COPY]
  quire db suspend DB --copy SERVER[#COPY]
  quire db resume DB --copy SERVER[#COPY]
  quire db reseed DB --copy SERVER[#COPY] [--max-rate SIZE]   (SIZE per second; default disk speed)
  quire db set-lag DB --copy SERVER[#COPY] --replay-lag DURATION [--truncation-lag DURATION]
  quire db playforward DB --copy SERVER[#COPY] [--to TIME|POSITION]
  quire move ADDRESS --to DB [--detach]   (progress lines until done; --detach returns at once)
  quire move list [--json]
  quire move cancel ID|ADDRESS           (before the switch only)
  quire queue list [--json]              (the outbound queue: id, sender, recipients left, attempts, next attempt, last error)
  quire queue flush [ID]                 (try one message, or all, now)
  quire queue delete ID [--bounce]       (drop a message; --bounce sends its sender a DSN for the recipients left)
  quire search [QUERY] (--mailbox ADDRESS ... | --all) [--from TEXT] [--to TEXT] [--since DATE]
               [--before DATE] [--copy-to ADDRESS [--name NAME]] [--json]
                                         (many mailboxes at once: counts per mailbox; --copy-to
                                          copies the results into a discovery mailbox)
  quire search --audit [--json]          (every multi-mailbox search: who, when, query, counts)
  quire publicfolder add PATH [--database DB]
  quire publicfolder list [--json]
  quire publicfolder remove PATH
  quire publicfolder permission add PATH --user ADDRESS|anyone|anonymous --role owner|editor|author|reviewer|none
  quire publicfolder permission add PATH --user ADDRESS|anyone|anonymous --rights LETTERS   (RFC 4314: lrswipkxtea)
  quire publicfolder permission remove PATH --user ADDRESS|anyone|anonymous
  quire publicfolder mail-enable PATH --address ADDRESS
  quire publicfolder mail-disable PATH

--data defaults to ./data (or $QUIRE_DATA). With a server running on that data directory the
commands go through its admin API; otherwise they work on the files.

Reseed (run on the copy's server) copies a consistent snapshot of the active copy (state store +
log tail), from this server or the one holding it, with a progress bar, reads every byte back
from the disk and compares it, and goes on from where an interrupted reseed stopped.
A copy with a replay lag is "lagged": it receives and verifies the log at once but replays only
what arrived DURATION ago (30s, 10m, 2h, 1d; 0 stops lagging); playforward replays it now (all,
to a log position, or to what arrived by an ISO TIME). The truncation lag keeps replayed log on
the copy that long. --disk-free-min (default 256M; 0 turns it off): below it writes answer
DISK_FULL (IMAP NO [LIMIT], SMTP 452 4.3.1) until space is freed.

LDAP: the --ldap-* flags are saved into DIR/ldap.json (attribute mapping, domains, cache and
timeouts go there too; see engine/directory/README.md); the bind password may also come from
$QUIRE_LDAP_BIND_PASSWORD. With LDAP the directory is read-only for quire: users, passwords,
aliases and groups are changed in LDAP, and mailboxes are created at first login or delivery.`;

class UsageError extends Error {}

interface Parsed {
  readonly positional: string[];
  readonly flags: Map<string, string | true>;
}

const valueFlags = new Set([
  'data', 'server', 'domain', 'listen', 'port-offset', 'tls-cert', 'tls-key', 'password', 'database', 'quota', 'to', 'copy',
  'durability', 'kafka', 'registry', 'passive', 'mount-dial', 'restarts-before-failover', 'kafka-session-timeout-ms', 'disk-free-min', 'max-rate', 'replay-lag', 'truncation-lag',
  'user', 'role', 'rights', 'address',
  'ldap-url', 'ldap-bind-dn', 'ldap-bind-password-file', 'ldap-base-dn',
  'mailbox', 'from', 'since', 'before', 'copy-to', 'name',
]);
/** Flags that may be given more than once; their values are joined with commas. */
const repeatableFlags = new Set(['mailbox']);
const switchFlags = new Set(['json', 'bounce', 'detach', 'all', 'audit']);

/** A size flag (`256M`, `10MB`, bytes): a number of bytes, or undefined when the flag is absent. */
function sizeFlag(p: Parsed, name: string): number | undefined {
  const text = flag(p, name);
  if (text === undefined) return undefined;
  const size = parseSize(text);
  if (!size.ok || size.value === null) throw new UsageError(`--${name}: ${size.ok ? 'must be a size' : size.message}`);
  return size.value;
}

/** A duration: `0`, `90s`, `10m`, `2h`, `14d` (or milliseconds with `ms`). */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(text.trim());
  if (match === null) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

/** `MBX1` or `MBX1#2` (a server's second copy of the database). */
function parseCopyName(text: string): { server: string; copy?: number } {
  const match = /^([^#\s]+)(?:#(\d+))?$/.exec(text);
  if (match === null) throw new UsageError(`not a copy name: ${text} (SERVER or SERVER#N)`);
  return { server: match[1]!, ...(match[2] === undefined ? {} : { copy: Number(match[2]) }) };
}

/** `--port-offset N` (0 to 55000), or `any`: every port chosen by the system (written to server.json). */
function portPlan(value: string | undefined): { portOffset: number; ports?: 'ephemeral' } {
  if (value === undefined) return { portOffset: 0 };
  if (value === 'any') return { portOffset: 0, ports: 'ephemeral' };
  const offset = Number(value);
  if (!/^\d{1,5}$/.test(value) || offset > 55_000) throw new UsageError('--port-offset must be a number from 0 to 55000, or "any"');
  return { portOffset: offset };
}

/** A whole number of at least 0 (`--restarts-before-failover`). */
function count(name: string, value: string): number {
  if (!/^\d{1,4}$/.test(value)) throw new UsageError(`--${name} must be a whole number (0 to 9999)`);
  return Number(value);
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function parseArgs(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1)); // the end of the options: what follows is positional, even `--x`
      break;
    }
    if (arg === '-h' || arg === '--help') flags.set('help', true);
    else if (arg.startsWith('--')) {
      const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
      if (valueFlags.has(name)) {
        const value = inline ?? argv[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
        const earlier = flags.get(name);
        flags.set(name, repeatableFlags.has(name) && typeof earlier === 'string' ? `${earlier},${value}` : value);
      } else if (switchFlags.has(name)) flags.set(name, true);
      else throw new UsageError(`unknown option --${name}`);
    } else positional.push(arg);
  }
  return { positional, flags };
}

const flag = (p: Parsed, name: string): string | undefined => {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
};

/** Calls the running server's admin API, pinning its certificate's fingerprint. */
function adminCall(server: ServerFile, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const url = new URL(path, server.adminUrl);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolvePromise, reject) => {
    const req = httpsRequest(
      url,
      {
        method,
        rejectUnauthorized: false,
        headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
      },
      (res) => {
        const tlsSocket = res.socket as import('node:tls').TLSSocket;
        const fingerprint = tlsSocket.getPeerCertificate?.().fingerprint256?.replace(/:/g, '').toLowerCase();
        if (fingerprint !== undefined && fingerprint !== server.fingerprintSha256.replace(/:/g, '').toLowerCase()) {
          reject(new Error('the admin API presented an unexpected certificate'));
          res.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolvePromise({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null });
        });
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Offline: the data directory's directory opened in this process. */
async function withOfflineDirectory<T>(dataDir: string, fn: (directory: Directory) => Promise<T>): Promise<T> {
  const opened = await openConfiguredDirectory(dataDir, { domain: 'example.org', databases: [...databasesDefault] });
  if (!opened.ok) throw new Error(opened.message);
  try {
    return await fn(opened.value.directory);
  } finally {
    await opened.value.directory.close();
  }
}

/** Offline: the directory plus each database's active copy opened in this process. */
function withOffline<T>(dataDir: string, fn: (directory: Directory, apiFor: (db: string) => MailboxApi, databases: string[]) => Promise<T>): Promise<T> {
  const databases = [...databasesDefault];
  return withOfflineDirectory(dataDir, async (directory) => {
    const open = new Map<string, MailboxDatabase>();
    const specs = embeddedCopies(dataDir, 'MBX1', databases).filter((c) => c.role === 'active');
    try {
      for (const spec of specs) {
        open.set(spec.database, await MailboxDatabase.open({ name: spec.database, dir: spec.dir, storage: nodeStorage(), clock: systemClock(), prng: systemPrng(), openKv: openRocksKv }));
      }
      return await fn(directory, (db) => open.get(db)!, databases);
    } finally {
      for (const db of open.values()) await db.close();
    }
  });
}

function expectOk(result: { ok: boolean; message?: string; code?: string }): void {
  if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
}

function printTable(rows: Array<Record<string, unknown>>, columns: string[]): void {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  console.log(columns.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  for (const row of rows) console.log(columns.map((c, i) => String(row[c] ?? '').padEnd(widths[i]!)).join('  '));
}

function kafkaOptions(parsed: Parsed): { kafka: { brokers: string[]; registryUrl: string; sessionTimeoutMs?: number }; passive: string[] } | null {
  const brokers = flag(parsed, 'kafka');
  const registryUrl = flag(parsed, 'registry');
  if (brokers === undefined && registryUrl === undefined && flag(parsed, 'passive') === undefined) return null;
  if (brokers === undefined || registryUrl === undefined) throw new UsageError('Kafka shipping needs both --kafka HOST:PORT[,...] and --registry URL');
  const session = flag(parsed, 'kafka-session-timeout-ms');
  if (session !== undefined && !(Number(session) >= 1000)) throw new UsageError('--kafka-session-timeout-ms must be a number of milliseconds, at least 1000');
  return {
    kafka: { brokers: brokers.split(','), registryUrl, ...(session === undefined ? {} : { sessionTimeoutMs: Number(session) }) },
    passive: (flag(parsed, 'passive') ?? '').split(',').filter((d) => d !== ''),
  };
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv);
  const [command, sub, target] = parsed.positional;
  if (command === undefined || parsed.flags.has('help')) {
    console.log(usage);
    return command === undefined && !parsed.flags.has('help') ? 2 : 0;
  }
  const dataDir = resolve(flag(parsed, 'data') ?? process.env.QUIRE_DATA ?? './data');
  const json = parsed.flags.has('json');

  if (command === 'start') {
    const server = await startServer({
      dataDir,
      server: flag(parsed, 'server') ?? 'MBX1',
      domain: flag(parsed, 'domain') ?? 'example.org',
      listen: flag(parsed, 'listen') ?? '127.0.0.1',
      ...portPlan(flag(parsed, 'port-offset')),
      ...(flag(parsed, 'tls-cert') ? { tlsCert: flag(parsed, 'tls-cert')! } : {}),
      ...(flag(parsed, 'tls-key') ? { tlsKey: flag(parsed, 'tls-key')! } : {}),
      ...(flag(parsed, 'durability') ? { durability: oneOf('durability', flag(parsed, 'durability'), ['async', 'sync'] as const)! } : {}),
      ...(flag(parsed, 'restarts-before-failover') === undefined ? {} : { restartsBeforeFailover: count('restarts-before-failover', flag(parsed, 'restarts-before-failover')!) }),
      ...(flag(parsed, 'mount-dial') ? { mountDial: oneOf('mount-dial', flag(parsed, 'mount-dial'), ['lossless', 'good', 'best'] as const)! } : {}),
      ...(flag(parsed, 'disk-free-min') === undefined ? {} : { diskFreeBytesMin: sizeFlag(parsed, 'disk-free-min')! }),
      ...(kafkaOptions(parsed) ?? {}),
      ldap: {
        url: flag(parsed, 'ldap-url'),
        bindDn: flag(parsed, 'ldap-bind-dn'),
        bindPasswordFile: flag(parsed, 'ldap-bind-password-file') === undefined ? undefined : resolve(flag(parsed, 'ldap-bind-password-file')!),
        baseDn: flag(parsed, 'ldap-base-dn'),
      },
      say: (line) => console.log(line),
    });
    await new Promise<void>((resolveStop) => {
      const stop = (signal: string): void => {
        console.log(`${signal}: shutting down every database cleanly`);
        server.stop().then(
          () => {
            console.log('shutdown: every database closed cleanly');
            resolveStop();
          },
          (error) => {
            console.error(`shutdown: ${(error as Error).message}`);
            resolveStop();
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    // Everything is closed; a handle a library left open (a client's reconnect timer, a socket)
    // must not keep the process alive after its databases shut down cleanly: name it, and exit.
    setTimeout(() => {
      const open = (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles()
        .filter((h) => h !== process.stdout && h !== process.stderr && h !== process.stdin)
        .map((h) => h.constructor.name);
      console.log(`shutdown: still open after the clean shutdown: ${open.join(', ') || 'nothing'}; exiting`);
      process.exit(process.exitCode ?? 0);
    }, 2_000).unref();
    return 0;
  }

  const running = runningServer(dataDir);
  const token = running === null ? null : readAdminToken(dataDir);
  if (running !== null && token === null) throw new Error(`a server runs on ${dataDir} but its administrator credential is not readable`);
  const online = async (method: string, path: string, body?: unknown): Promise<any> => {
    const answer = await adminCall(running!, token!, method, path, body);
    if (answer.status >= 400) throw new Error(`${answer.body?.error ?? answer.status}: ${answer.body?.message ?? 'request failed'}`);
    return answer.body;
  };

  if (command === 'user') {
    const password = flag(parsed, 'password');
    switch (sub) {
      case 'add': {
        if (target === undefined || password === undefined) throw new UsageError('quire user add ADDRESS --password PW [--database DB] [--quota SIZE]');
        let quotaBytes: number | null = null;
        if (flag(parsed, 'quota') !== undefined) {
          const size = parseSize(flag(parsed, 'quota')!);
          if (!size.ok) throw new UsageError(size.message);
          quotaBytes = size.value;
        }
        const input = { address: target, password, quotaBytes, ...(flag(parsed, 'database') ? { database: flag(parsed, 'database')! } : {}) };
        const user = running
          ? await online('POST', '/api/v1/users', input)
          : await withOffline(dataDir, async (d, api, dbs) => {
              const r = await addUser(d, dbs, api, input);
              expectOk(r);
              return r.ok ? r.value : null;
            });
        console.log(json ? JSON.stringify(user) : `added ${user.address} in ${user.database}`);
        return 0;
      }
      case 'list': {
        const users = running ? await online('GET', '/api/v1/users') : await withOffline(dataDir, (d, api) => listUsers(d, api));
        if (json) console.log(JSON.stringify(users, null, 2));
        else printTable(users, ['address', 'database', 'quotaBytes', 'usedBytes']);
        return 0;
      }
      case 'remove': {
        if (target === undefined) throw new UsageError('quire user remove ADDRESS');
        if (running) await online('DELETE', `/api/v1/users/${encodeURIComponent(target)}`);
        else await withOffline(dataDir, async (d, api) => expectOk(await removeUser(d, api, target)));
        console.log(`removed ${target}`);
        return 0;
      }
      case 'passwd': {
        if (target === undefined || password === undefined) throw new UsageError('quire user passwd ADDRESS --password PW');
        if (running) await online('PUT', `/api/v1/users/${encodeURIComponent(target)}/password`, { password });
        else await withOffline(dataDir, async (d) => expectOk(await d.setPassword(target, password)));
        console.log(`password changed for ${target}`);
        return 0;
      }
    }
    throw new UsageError(`unknown command: quire user ${sub ?? ''}`);
  }

  if (command === 'domain') {
    if (sub === 'add') {
      if (target === undefined) throw new UsageError('quire domain add NAME');
      if (running) await online('POST', '/api/v1/domains', { name: target });
      else await withOffline(dataDir, async (d) => expectOk(await d.addDomain(target)));
      console.log(`added accepted domain ${target.toLowerCase()}`);
      return 0;
    }
    if (sub === 'list') {
      const domains: string[] = running ? await online('GET', '/api/v1/domains') : await withOffline(dataDir, (d) => d.listDomains());
      console.log(json ? JSON.stringify(domains) : domains.join('\n'));
      return 0;
    }
    throw new UsageError(`unknown command: quire domain ${sub ?? ''}`);
  }

  if (command === 'db' && sub === 'reseed') {
    const named = flag(parsed, 'copy');
    if (target === undefined || named === undefined) throw new UsageError('quire db reseed DB --copy SERVER[#COPY] [--max-rate SIZE]');
    if (!running) throw new Error(`quire db reseed needs a running server on ${dataDir}`);
    const who = parseCopyName(named);
    const rate = sizeFlag(parsed, 'max-rate');
    let finished = false;
    // The server goes on if this command is stopped; running it again follows the same reseed.
    const request = online('POST', `/api/v1/databases/${encodeURIComponent(target)}/reseed`, { ...who, ...(rate === undefined ? {} : { bytesPerSecondMax: rate }) }).finally(() => (finished = true));
    request.catch(() => {});
    const mib = (n: number): string => (n / (1024 * 1024)).toFixed(1);
    const bar = (copied: number, total: number, perSecond: number | null): void => {
      const width = 30;
      const filled = total === 0 ? width : Math.round((copied / total) * width);
      const speed = perSecond === null ? '' : ` ${mib(perSecond)} MiB/s`;
      process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${total === 0 ? 100 : Math.floor((copied / total) * 100)}% ${mib(copied)} / ${mib(total)} MiB${speed}   `);
    };
    let total = 0;
    let perSecond: number | null = null;
    while (!finished) {
      await new Promise((r) => setTimeout(r, 200));
      const seeding = ((await online('GET', `/api/v1/databases/${encodeURIComponent(target)}/reseed`).catch(() => [])) as Array<Record<string, any>>).find(
        (c) => c.server === who.server && (who.copy === undefined || c.copy === who.copy),
      );
      if (seeding?.seedBytesTotal != null && seeding.seedBytesTotal > 0) {
        total = seeding.seedBytesTotal as number;
        perSecond = seeding.seedBytesPerSecond as number | null;
        bar(seeding.seedBytesCopied as number, total, perSecond);
      }
    }
    const copies = (await request) as Array<Record<string, any>>;
    bar(total, total, perSecond);
    process.stderr.write('\n');
    const done = copies.find((c) => c.database === target && c.server === who.server && (who.copy === undefined || c.copy === who.copy) && c.role !== 'active');
    if (json) console.log(JSON.stringify(done ?? null, null, 2));
    else console.log(`reseeded ${target} on ${named}: a ${mib(total)} MiB snapshot copied and verified; the copy is ${done?.state ?? 'unknown'} and catches up by shipping`);
    return 0;
  }

  if (command === 'db' && sub === 'set-lag') {
    const named = flag(parsed, 'copy');
    const replay = flag(parsed, 'replay-lag');
    if (target === undefined || named === undefined || replay === undefined) throw new UsageError('quire db set-lag DB --copy SERVER[#COPY] --replay-lag DURATION [--truncation-lag DURATION]');
    if (!running) throw new Error(`quire db set-lag needs a running server on ${dataDir}`);
    const replayLagMs = parseDuration(replay);
    const truncationLagMs = parseDuration(flag(parsed, 'truncation-lag') ?? '0');
    if (replayLagMs === null || truncationLagMs === null) throw new UsageError('a lag is a duration: 0, 90s, 10m, 2h, 14d');
    const copies = (await online('POST', `/api/v1/databases/${encodeURIComponent(target)}/lag`, { ...parseCopyName(named), replayLagMs, truncationLagMs })) as Array<Record<string, any>>;
    const mine = copies.find((c) => c.database === target && c.server === parseCopyName(named).server && (parseCopyName(named).copy === undefined || c.copy === parseCopyName(named).copy));
    if (json) console.log(JSON.stringify(mine ?? null, null, 2));
    else console.log(`${target} on ${named}: replay lag ${replayLagMs} ms, truncation lag ${truncationLagMs} ms (role ${mine?.role ?? 'unknown'})`);
    return 0;
  }

  if (command === 'db' && sub === 'playforward') {
    const named = flag(parsed, 'copy');
    if (target === undefined || named === undefined) throw new UsageError('quire db playforward DB --copy SERVER[#COPY] [--to TIME|POSITION]');
    if (!running) throw new Error(`quire db playforward needs a running server on ${dataDir}`);
    const to = flag(parsed, 'to');
    let body: Record<string, number> = {};
    if (to !== undefined) {
      if (/^\d+$/.test(to)) body = { toPosition: Number(to) };
      else if (Number.isFinite(Date.parse(to))) body = { toTimeMs: Date.parse(to) };
      else throw new UsageError(`--to ${to}: a log position (a number) or a time (ISO 8601, e.g. 2026-11-29T12:00:00Z)`);
    }
    const who = parseCopyName(named);
    const copies = (await online('POST', `/api/v1/databases/${encodeURIComponent(target)}/playforward`, { ...who, ...body })) as Array<Record<string, any>>;
    const mine = copies.find((c) => c.database === target && c.server === who.server && (who.copy === undefined || c.copy === who.copy));
    if (json) console.log(JSON.stringify(mine ?? null, null, 2));
    else console.log(`${target} on ${named} played forward: replayed to ${mine?.lastReplayedPosition}, log at ${mine?.lastInspectedPosition}, replay queue ${mine?.replayQueueLength} bytes`);
    return 0;
  }

  if (command === 'db' && (sub === 'switchover' || sub === 'suspend' || sub === 'resume')) {
    const database = target;
    const named = flag(parsed, sub === 'switchover' ? 'to' : 'copy');
    if (database === undefined || named === undefined) {
      throw new UsageError(sub === 'switchover' ? 'quire db switchover DB --to SERVER[#COPY]' : `quire db ${sub} DB --copy SERVER[#COPY]`);
    }
    if (!running) throw new Error(`quire db ${sub} needs a running server on ${dataDir} (copies are activated by their supervisor)`);
    const copies = (await online('POST', `/api/v1/databases/${encodeURIComponent(database)}/${sub}`, parseCopyName(named))) as Array<Record<string, unknown>>;
    const mine = copies.filter((c) => c.database === database);
    if (json) console.log(JSON.stringify(mine, null, 2));
    else {
      const active = mine.find((c) => c.role === 'active');
      console.log(`${sub === 'switchover' ? 'switched over' : sub === 'suspend' ? 'suspended' : 'resumed'}: ${database} active on ${active ? `${active.server}#${active.copy}` : 'no copy of this server'}`);
    }
    return 0;
  }

  if (command === 'move') {
    if (!running) throw new Error(`quire move needs a running server on ${dataDir} (the user keeps working during a move)`);
    if (sub === 'list') {
      const moves = (await online('GET', '/api/v1/moves')) as Array<Record<string, unknown>>;
      if (json) console.log(JSON.stringify(moves, null, 2));
      else printTable(moves, ['id', 'address', 'from', 'to', 'state', 'messagesCopied', 'messagesTotal', 'rounds', 'lockMs', 'sessionsTold', 'retries', 'error']);
      return 0;
    }
    if (sub === 'cancel') {
      if (target === undefined) throw new UsageError('quire move cancel ID|ADDRESS');
      const move = await online('DELETE', `/api/v1/moves/${encodeURIComponent(target)}`);
      console.log(json ? JSON.stringify(move) : `cancelling move ${move.id} of ${move.address}`);
      return 0;
    }
    const to = flag(parsed, 'to');
    if (sub === undefined || to === undefined || target !== undefined) throw new UsageError('quire move ADDRESS --to DB [--detach]');
    let move = await online('POST', '/api/v1/moves', { address: sub, to });
    const line = (m: Record<string, unknown>): string => `move ${m.id} ${m.address} ${m.from} → ${m.to}: ${m.state}, ${m.messagesCopied} messages copied of ${m.messagesTotal}, ${m.rounds} catch-up rounds${m.lockMs === undefined ? '' : `, writes held ${m.lockMs} ms, ${m.sessionsTold ?? 0} sessions told to reconnect`}${m.error ? ` (${m.error})` : ''}`;
    console.log(json ? JSON.stringify(move) : line(move));
    if (parsed.flags.has('detach')) return 0;
    let last = line(move);
    while (!['done', 'cancelled', 'failed'].includes(move.state as string)) {
      await new Promise((resolveWait) => setTimeout(resolveWait, 500));
      move = await online('GET', `/api/v1/moves/${encodeURIComponent(move.id as string)}`);
      if (line(move) !== last) {
        last = line(move);
        console.log(json ? JSON.stringify(move) : last);
      }
    }
    return move.state === 'done' ? 0 : 1;
  }

  if (command === 'queue') {
    const dir = outboundQueueDir(dataDir);
    if (sub === 'list') {
      const entries: QueueEntryView[] = running ? await online('GET', '/api/v1/queue') : (await readQueueDir(dir)).map((e) => viewOf(e.message, e.state));
      if (json) console.log(JSON.stringify(entries, null, 2));
      else {
        printTable(entries.map((e) => ({
          id: e.id,
          sender: e.mailFrom === '' ? '<>' : e.mailFrom,
          recipients: e.recipients.map((r) => (e.local.includes(r) ? `${r} (local)` : r)).join(', '),
          attempts: e.attempts,
          next: e.nextAttemptMs === 0 ? 'now' : new Date(e.nextAttemptMs).toISOString(),
          lastError: e.lastError ?? '',
        })), ['id', 'sender', 'recipients', 'attempts', 'next', 'lastError']);
      }
      return 0;
    }
    if (sub === 'flush') {
      const flushed: number = running ? (await online('POST', '/api/v1/queue/flush', target === undefined ? {} : { id: target })).flushed : await flushQueueDir(dir, target);
      if (target !== undefined && flushed === 0) throw new Error(`NO_SUCH_MESSAGE: no queued message ${target}`);
      console.log(json ? JSON.stringify({ flushed }) : `${flushed} message${flushed === 1 ? '' : 's'} due now${running ? '' : ' (tried at the next start)'}`);
      return 0;
    }
    if (sub === 'delete') {
      if (target === undefined) throw new UsageError('quire queue delete ID [--bounce]');
      const bounce = parsed.flags.has('bounce');
      if (running) await online('DELETE', `/api/v1/queue/${encodeURIComponent(target)}${bounce ? '?bounce=true' : ''}`);
      else {
        // With --bounce the DSN is written into the queue; whether its recipient is local needs the directory.
        const deleted = bounce
          ? await withOfflineDirectory(dataDir, (directory) => deleteFromQueueDir(dir, target, bounceIntoQueueDir(dir, {
            hostname: hostname(),
            newId: newTransactionId,
            nowMs: Date.now,
            isLocal: (address) => directory.isAcceptedDomain(address.slice(address.lastIndexOf('@') + 1).toLowerCase()),
          })))
          : await deleteFromQueueDir(dir, target, null);
        if (!deleted) throw new Error(`NO_SUCH_MESSAGE: no queued message ${target}`);
      }
      console.log(json ? JSON.stringify({ deleted: target, bounced: bounce }) : `deleted ${target}${bounce ? ' (its sender gets a DSN)' : ''}`);
      return 0;
    }
    throw new UsageError(`unknown command: quire queue ${sub ?? ''}`);
  }
  if (command === 'publicfolder') return publicFolderCommand(parsed, sub, json, running === null ? null : online, dataDir);

  if (command === 'search') {
    if (!running) throw new Error(`quire search needs a running server on ${dataDir} (it searches through the databases' workers)`);
    if (parsed.flags.has('audit')) {
      const searches = (await online('GET', '/api/v1/discovery/searches')) as Array<Record<string, any>>;
      if (json) console.log(JSON.stringify(searches, null, 2));
      else {
        printTable(searches.map((s) => ({
          id: s.id, started: new Date(s.startedAtMs as number).toISOString(), actor: s.actor, query: describeQuery(s.query), mailboxes: s.mailboxes === 'all' ? 'all' : (s.mailboxes as string[]).length,
          state: s.state, found: s.messagesFound, copied: s.copyTo === null ? '-' : `${s.messagesCopied} to ${s.copyTo}`,
        })), ['id', 'started', 'actor', 'query', 'mailboxes', 'state', 'found', 'copied']);
      }
      return 0;
    }
    if (target !== undefined) throw new UsageError('quire search takes one QUERY (quote it)');
    const mailboxes = flag(parsed, 'mailbox');
    const all = parsed.flags.has('all');
    if ((mailboxes === undefined) === !all) throw new UsageError('quire search [QUERY] (--mailbox ADDRESS ... | --all) [--from TEXT] [--to TEXT] [--since DATE] [--before DATE] [--copy-to ADDRESS [--name NAME]] [--json]');
    const body = {
      ...(sub === undefined ? {} : { text: sub }),
      ...(flag(parsed, 'from') === undefined ? {} : { from: flag(parsed, 'from') }),
      ...(flag(parsed, 'to') === undefined ? {} : { to: flag(parsed, 'to') }),
      ...(flag(parsed, 'since') === undefined ? {} : { since: flag(parsed, 'since') }),
      ...(flag(parsed, 'before') === undefined ? {} : { before: flag(parsed, 'before') }),
      ...(flag(parsed, 'copy-to') === undefined ? {} : { copyTo: flag(parsed, 'copy-to') }),
      ...(flag(parsed, 'name') === undefined ? {} : { name: flag(parsed, 'name') }),
      mailboxes: all ? 'all' : mailboxes!.split(',').filter((m) => m !== ''),
      requestedBy: `${userInfo().username} via quire search`,
    };
    let search = (await online('POST', '/api/v1/discovery/searches', body)) as Record<string, any>;
    const progress = (s: Record<string, any>): string =>
      s.state === 'copying' ? `copying: ${s.messagesCopied} of ${s.messagesFound} messages to ${s.copyTo}` : `searching: ${s.mailboxesSearched} of ${s.mailboxesTotal || '?'} mailboxes, ${s.messagesFound} messages found`;
    let last = '';
    while (search.state === 'searching' || search.state === 'copying') {
      const line = progress(search);
      if (line !== last && !json) process.stderr.write(`\r${(last = line)}`);
      await new Promise((resolveWait) => setTimeout(resolveWait, 250));
      search = await online('GET', `/api/v1/discovery/searches/${encodeURIComponent(search.id as string)}`);
    }
    if (last !== '') process.stderr.write('\n');
    if (json) console.log(JSON.stringify(search, null, 2));
    else {
      printTable(search.counts as Array<Record<string, unknown>>, ['address', 'database', 'messages', 'sizeBytes', 'error']);
      console.log(`search ${search.id} "${search.name}": ${search.state}, ${search.messagesFound} messages in ${(search.counts as Array<{ messages: number }>).filter((c) => c.messages > 0).length} of ${search.mailboxesSearched} mailboxes` +
        (search.copyTo === null ? '' : `; ${search.messagesCopied} copied to ${search.copyTo}, folder ${search.folder}`) + (search.error ? ` (${search.error})` : ''));
    }
    return search.state === 'done' ? 0 : 1;
  }

  if (command === 'db' && sub === 'list') {
    let copies: Array<Record<string, unknown>>;
    if (running) copies = await online('GET', '/api/v1/databases');
    else {
      // Offline: read each copy's files; no worker runs, so state is Dismounted and pid null.
      copies = [];
      for (const spec of embeddedCopies(dataDir, 'MBX1', [...databasesDefault])) {
        // replayAtOpen false: listing must not replay a lagged copy's held-back log.
        const db = await MailboxDatabase.open({ name: spec.database, dir: spec.dir, role: spec.role, storage: nodeStorage(), clock: systemClock(), prng: systemPrng(), openKv: openRocksKv, replayAtOpen: false });
        const s = db.status();
        await db.close();
        copies.push({
          database: spec.database, server: spec.server, copy: spec.copy, role: spec.role, state: 'Dismounted', pid: null, restarts: 0,
          lastLogPosition: s.lastLogPosition, checkpointPosition: s.checkpointPosition, copyQueueLength: 0, replayQueueLength: 0,
          lastInspectedPosition: s.lastLogPosition, lastReplayedPosition: s.replayedPosition, replayLagMs: 0,
          contentIndexState: 'NotApplicable', contentIndexDocuments: null, contentIndexDocumentsTotal: null, contentIndexBacklog: null, contentIndexLagMs: null, error: null,
        });
      }
    }
    if (json) console.log(JSON.stringify(copies, null, 2));
    else {
      // The content index column: its state, with a progress bar while it crawls.
      const index = (c: Record<string, unknown>): string => {
        const done = c.contentIndexDocuments as number | null;
        const total = c.contentIndexDocumentsTotal as number | null;
        const backlog = c.contentIndexBacklog as number | null;
        if (c.contentIndexState === 'Healthy' && backlog !== null && backlog > 0) return `Healthy (${backlog} waiting, ${((c.contentIndexLagMs as number) / 1000).toFixed(1)} s)`;
        if (c.contentIndexState !== 'Crawling' || done === null || total === null || total === 0) return String(c.contentIndexState);
        const filled = Math.round((done / total) * 10);
        return `Crawling [${'#'.repeat(filled)}${'.'.repeat(10 - filled)}] ${Math.floor((done / total) * 100)}% ${done}/${total}`;
      };
      // The reseed column while Seeding: done, total, rate.
      const mib = (n: number): string => (n / (1024 * 1024)).toFixed(1);
      const seed = (c: Record<string, unknown>): string =>
        c.state === 'Seeding' && typeof c.seedBytesTotal === 'number' && c.seedBytesTotal > 0
          ? `${Math.floor((100 * (c.seedBytesCopied as number)) / c.seedBytesTotal)}% ${mib(c.seedBytesCopied as number)}/${mib(c.seedBytesTotal)} MiB ${mib((c.seedBytesPerSecond as number) ?? 0)} MiB/s`
          : '';
      printTable(copies.map((c) => ({ ...c, contentIndex: index(c), seed: seed(c) })), ['database', 'server', 'copy', 'role', 'state', 'pid', 'lastLogPosition', 'checkpointPosition', 'copyQueueLength', 'replayQueueLength', 'replayLagMs', 'replayLagTimeMs', 'contentIndex', 'seed', 'error']);
    }
    return 0;
  }
  throw new UsageError(`unknown command: quire ${parsed.positional.join(' ')} (try quire --help)`);
}

/** A discovery query in one line: text "..." from:... to:... since:... before:... */
function describeQuery(query: Record<string, unknown>): string {
  const parts: string[] = [];
  if (query.text !== undefined) parts.push(JSON.stringify(query.text));
  for (const key of ['from', 'to'] as const) if (query[key] !== undefined) parts.push(`${key}:${String(query[key])}`);
  if (query.sinceMs !== undefined) parts.push(`since:${new Date(query.sinceMs as number).toISOString().slice(0, 10)}`);
  if (query.beforeMs !== undefined) parts.push(`before:${new Date(query.beforeMs as number).toISOString().slice(0, 10)}`);
  return parts.join(' ') || '(everything)';
}

/** A public folder's permissions in one line: identifier:role (or identifier:rights) ... */
const permissionsText = (folder: Record<string, any>): string => (folder.permissions as Array<Record<string, string>>).map((p) => `${p.identifier}:${p.role ?? p.rights}`).join(' ');

/** `quire publicfolder ...`: through the admin API, or offline on the data directory's databases. */
async function publicFolderCommand(parsed: Parsed, sub: string | undefined, json: boolean, online: ((method: string, path: string, body?: unknown) => Promise<any>) | null, dataDir: string): Promise<number> {
  const [, , path, fourth] = parsed.positional;
  const offline = <T>(work: (admin: ReturnType<typeof publicFolderAdmin>) => Promise<{ ok: boolean; value?: T; code?: string; message?: string }>): Promise<T> =>
    withOffline(dataDir, async (directory, apiFor, databases) => {
      const result = await work(publicFolderAdmin(new PublicFolders({ databases, apiFor, directory })));
      expectOk(result);
      return result.value as T;
    });
  const print = (folder: Record<string, any>, verb: string): void => {
    console.log(json ? JSON.stringify(folder) : `${verb} ${folder.path} (${folder.database})${folder.address ? ` <${folder.address}>` : ''}`);
  };
  const needPath = (usage: string): string => {
    if (path === undefined) throw new UsageError(usage);
    return path;
  };
  switch (sub) {
    case 'list': {
      const folders: Array<Record<string, any>> = online ? await online('GET', '/api/v1/publicfolders') : await offline((a) => a.list());
      if (json) console.log(JSON.stringify(folders, null, 2));
      else {
        printTable(
          folders.map((f) => ({ ...f, permissions: permissionsText(f) })),
          ['path', 'database', 'address', 'messages', 'permissions'],
        );
      }
      return 0;
    }
    case 'add': {
      const at = needPath('quire publicfolder add PATH [--database DB]');
      const database = flag(parsed, 'database');
      const body = { path: at, ...(database === undefined ? {} : { database }) };
      print(online ? await online('POST', '/api/v1/publicfolders', body) : await offline((a) => a.add(at, database)), 'added');
      return 0;
    }
    case 'remove': {
      const at = needPath('quire publicfolder remove PATH');
      print(online ? await online('DELETE', `/api/v1/publicfolders?path=${encodeURIComponent(at)}`) : await offline((a) => a.remove(at)), 'removed');
      return 0;
    }
    case 'permission': {
      const action = path;
      const at = fourth;
      const user = flag(parsed, 'user');
      const usage = 'quire publicfolder permission add|remove PATH --user ADDRESS [--role ROLE | --rights LETTERS]';
      if ((action !== 'add' && action !== 'remove') || at === undefined || user === undefined) throw new UsageError(usage);
      const role = flag(parsed, 'role');
      const rights = flag(parsed, 'rights');
      if (action === 'add' && (role === undefined) === (rights === undefined)) throw new UsageError('give --role or --rights');
      if (role !== undefined && !roles.includes(role as Role)) throw new UsageError(`--role must be one of ${roles.join(', ')}`);
      const body = { path: at, identifier: user, ...(action === 'remove' ? {} : role !== undefined ? { role } : { rights }) };
      const grant = action === 'remove' ? null : role !== undefined ? (role as Role) : { rights: rights! };
      const folder = online ? await online('PUT', '/api/v1/publicfolders/permissions', body) : await offline((a) => a.setPermission(at, user, grant));
      if (json) console.log(JSON.stringify(folder));
      else console.log(`${folder.path}: ${permissionsText(folder)}`);
      return 0;
    }
    case 'mail-enable':
    case 'mail-disable': {
      const at = needPath(sub === 'mail-enable' ? 'quire publicfolder mail-enable PATH --address ADDRESS' : 'quire publicfolder mail-disable PATH');
      const address = sub === 'mail-enable' ? flag(parsed, 'address') ?? null : null;
      if (sub === 'mail-enable' && address === null) throw new UsageError('quire publicfolder mail-enable PATH --address ADDRESS');
      const folder = online ? await online('PUT', '/api/v1/publicfolders/address', { path: at, address }) : await offline((a) => a.mailEnable(at, address));
      print(folder, sub === 'mail-enable' ? 'mail-enabled' : 'mail-disabled');
      return 0;
    }
  }
  throw new UsageError(`unknown command: quire publicfolder ${sub ?? ''}`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`quire: ${message}`);
    process.exitCode = error instanceof UsageError ? 2 : error instanceof StartError ? 1 : 1;
  },
);
