// `quire start`: one server process. It holds the directory, runs the supervisor (one worker
// process per database copy), serves the admin API and health endpoint, and on SIGTERM/SIGINT
// shuts every database down cleanly. On an empty data directory it does the first-start steps
// of the contract: accepted domain, administrator credential, demo mailbox, TLS certificate.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type Directory, ensureTlsCertificate, generatePassword } from '../engine/directory/index.js';
import { systemPrng } from '../engine/io.js';
import { KafkaTransport } from '../engine/replication/kafka.js';
import { type CopySpec, type Durability, type MountDial, Supervisor, embeddedCopies } from '../engine/supervisor.js';
import type { AddressInfo } from 'node:net';
import type { MailboxApi } from '../engine/api.js';
import pino from 'pino';
import type { FrontEnd, FrontEndContext, ListenPlan, MailSubmission, ServiceName } from '../protocols/frontend.js';
import { clientSetupRoutes } from '../protocols/http/autoconfig.js';
import { startHttpServers } from '../protocols/http/server.js';
import { followMailFlow } from '../protocols/http/jmap/routes.js';
import { addressBookOf, type LdapFlags, openConfiguredDirectory, withMailboxes } from './directory.js';
import { createFrontEndContext } from './frontend.js';
import { importAccountDocumentFiles } from './documents.js';
import { ServerMetrics, healthOf } from './metrics.js';
import { startFrontEnds } from './frontends.js';
import type { MailFlow, QueueAdmin } from './delivery/index.js';
import { adminSecretPath, databasesDefault, readAdminToken, runningServer, serverFileName } from './paths.js';
import { addUser, listUsers, removeUser, setQuota } from './users.js';
import { PublicFolders, publicFolderAdmin } from './publicfolders.js';
import { MoveManager } from './moves.js';
import { DiscoveryManager } from './discovery.js';
import { giveBackDivergentTail, HandOverReceiver } from './divergence.js';
import { safetyNetDir } from './delivery/safety-net.js';
import { fail, ok } from '../engine/errors.js';
import { fetchLastLogs, fetchSnapshot, peerRoutes, peerToken } from './peers.js';

export interface ServerOptions {
  readonly dataDir: string;
  readonly server: string;
  readonly domain: string;
  readonly listen: string;
  readonly portOffset: number;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly say: (line: string) => void;
  /** Ship over Kafka (several servers, one copy of each database here) instead of embedded. */
  readonly kafka?: { readonly brokers: readonly string[]; readonly registryUrl: string; readonly prefix?: string; readonly sessionTimeoutMs?: number };
  /** Kafka mode: the databases whose copy on this server starts passive (the others start active). */
  readonly passive?: readonly string[];
  readonly durability?: Durability;
  readonly mountDial?: MountDial;
  /** An active copy whose worker died is restarted in place this many times before another copy is activated (default 3). */
  readonly restartsBeforeFailover?: number;
  /** Low-disk guard: bytes kept free in the data directory's file system (0: off); default the engine's 256 MiB. */
  readonly diskFreeBytesMin?: number;
  /** 'contract' (default): the ports of shared/CONTRACT.md plus portOffset; 'ephemeral': any free port (tests). */
  readonly ports?: 'contract' | 'ephemeral';
  /** Structured (JSON) log level on stdout: 'info' by default, 'silent' in tests. */
  readonly logLevel?: string;
  /** LDAP settings from the command line, merged over <dataDir>/ldap.json and saved there (server/directory.ts). */
  readonly ldap?: LdapFlags;
  /** Where the JSON log lines go instead of stdout (tests read them). */
  readonly logDestination?: pino.DestinationStream;
}

/** The copies this server hosts: embedded, an active and a passive copy of each database; with Kafka, one copy each. */
function copiesOf(options: ServerOptions, dataDir: string, databases: readonly string[]): CopySpec[] {
  if (options.kafka === undefined) return embeddedCopies(dataDir, options.server, databases);
  return databases.map((database) => ({
    database,
    server: options.server,
    copy: 1,
    role: options.passive?.includes(database) ? ('passive' as const) : ('active' as const),
    dir: join(dataDir, 'databases', database, `${options.server}-1`),
  }));
}

export const basePorts: Readonly<Record<ServiceName, number>> = { imap: 1143, imaps: 1993, pop3: 1110, pop3s: 1995, smtp: 2525, submission: 1587, submissions: 1465, lmtp: 2424, https: 8443, http: 8080 } as const;

export interface RunningServer {
  readonly supervisor: Supervisor;
  readonly directory: Directory;
  /** What the front ends are given (logins, recipients, mailboxes): tests authenticate through it. */
  readonly context: FrontEndContext;
  /** The ports the server really listens on, by service. */
  readonly ports: Readonly<Partial<Record<ServiceName, number>>>;
  /** The administrator's Bearer token. */
  readonly adminToken: string;
  /** The server's TLS certificate (PEM): what a test client trusts. */
  readonly tlsCert: string;
  readonly metrics: ServerMetrics;
  /** Mailbox moves between databases (server/moves.ts). */
  readonly moves: MoveManager;
  /** Public folders (server/publicfolders.ts). */
  readonly publicFolders: PublicFolders;
  stop(): Promise<void>;
}

export class StartError extends Error {}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const other = runningServer(dataDir);
  if (other !== null) throw new StartError(`a server (pid ${other.pid}) already runs on ${dataDir}`);

  const databases = [...databasesDefault];
  const opened = await openConfiguredDirectory(dataDir, { domain: options.domain, databases }, options.ldap);
  if (!opened.ok) throw new StartError(opened.message);
  const directory = opened.value.directory;
  const prng = systemPrng();
  const randomBytes = (n: number): Uint8Array => prng.bytes(n);
  const firstStart = (await directory.listDomains()).length === 0;
  const printedOnce: string[] = [];

  let adminToken = readAdminToken(dataDir);
  if (adminToken === null) {
    adminToken = generatePassword(randomBytes, 32);
    mkdirSync(dirname(adminSecretPath(dataDir)), { recursive: true, mode: 0o700 });
    writeFileSync(adminSecretPath(dataDir), JSON.stringify({ user: 'admin', token: adminToken }), { mode: 0o600 });
    printedOnce.push(`administrator credential (Bearer token for the admin API): ${adminToken}`);
  }
  // What the other servers present to ask this one for a database's last logs (server/peers.ts).
  const peerSecret = peerToken(dataDir, () => generatePassword(randomBytes, 32));
  if (firstStart) {
    const added = await directory.addDomain(options.domain);
    if (!added.ok) throw new StartError(added.message);
  }
  const tls = await ensureTlsCertificate(dataDir, { ...(options.tlsCert ? { certPath: options.tlsCert } : {}), ...(options.tlsKey ? { keyPath: options.tlsKey } : {}) });
  if (!tls.ok) throw new StartError(tls.message);

  // After a lossy failover: the deliveries of a divergent tail cut off here go, through the
  // supervisor, to the server holding the active copy, which resubmits them (server/divergence.ts).
  const handOvers = new HandOverReceiver((database) => supervisor.api(database), options.say);
  const supervisor: Supervisor = new Supervisor({
    copies: copiesOf(options, dataDir, databases),
    log: options.say,
    onDivergentTail: async (tail) => {
      await giveBackDivergentTail(tail, { safetyNetDir: safetyNetDir(dataDir), handOver: (database, payload) => supervisor.handOver(database, payload), say: options.say });
    },
    onHandOver: (database, payload) => handOvers.receive(database, payload),
    fetchLastLogs: (server, request) => fetchLastLogs(supervisor, server, request),
    fetchSnapshot: (server, request) => fetchSnapshot(supervisor, server, request),
    ...(options.kafka === undefined ? {} : { transport: new KafkaTransport({ ...options.kafka, clientId: options.server }) }),
    ...(options.durability === undefined ? {} : { durability: options.durability }),
    ...(options.mountDial === undefined ? {} : { mountDial: options.mountDial }),
    ...(options.restartsBeforeFailover === undefined ? {} : { restartsBeforeFailover: options.restartsBeforeFailover }),
    ...(options.diskFreeBytesMin === undefined ? {} : { diskFreeBytesMin: options.diskFreeBytesMin }),
  });
  await supervisor.start();
  const metrics = new ServerMetrics({
    list: () => supervisor.list(),
    workerStats: async (copy) => {
      try {
        const status = (await supervisor.copyClient(copy.database, copy.server, copy.copy).call('status', {})) as { batches: number; logBytes: number };
        return { batches: status.batches, logBytes: status.logBytes };
      } catch {
        return null;
      }
    },
  });
  const rawApis = new Map<string, MailboxApi>(databases.map((database) => [database, metrics.timed(database, supervisor.api(database))]));
  const moves = new MoveManager({
    path: join(dataDir, 'moves.json'),
    directory,
    apiFor: (database) => rawApis.get(database) ?? supervisor.api(database),
    databases,
    nowMs: () => Date.now(),
    newId: () => Buffer.from(prng.bytes(6)).toString('hex'),
    log: options.say,
    sessionsMoved: (mailboxId) => context.mailboxMoved(mailboxId),
  });
  // Everything but the moves themselves writes through the move lock.
  const apis = new Map<string, MailboxApi>([...rawApis].map(([database, api]) => [database, moves.guard(database, api)]));
  const apiFor = (database: string) => apis.get(database) ?? supervisor.api(database);
  const served = withMailboxes(directory, databases, apiFor);
  const discovery = new DiscoveryManager({
    auditPath: join(dataDir, 'discovery', 'audit.log'),
    directory,
    apiFor,
    createMailbox: (address) => addUser(directory, databases, apiFor, { address, password: generatePassword(randomBytes, 24), displayName: 'Discovery mailbox' }),
    nowMs: () => Date.now(),
    newId: () => Buffer.from(prng.bytes(6)).toString('hex'),
    log: options.say,
  });
  const publicFolders = new PublicFolders({ databases, apiFor, directory });

  // With Kafka shipping the first database may be active on another server: its mailboxes are made there.
  const demoHere = (await supervisor.list()).some((c) => c.database === databases[0] && c.role === 'active');
  if (firstStart && !demoHere) printedOnce.push(`demo mailbox: not created (${databases[0]} is not active on ${options.server})`);
  if (firstStart && demoHere) {
    const password = generatePassword(randomBytes);
    const demo = await addUser(directory, databases, apiFor, { address: `demo@${options.domain}`, password, database: databases[0] });
    if (!demo.ok) throw new StartError(`creating the demo mailbox: ${demo.message}`);
    printedOnce.push(`demo mailbox: demo@${options.domain} password: ${password}`);
  }

  // Account documents still in files from before they were log events: into the log once, before JMAP serves.
  const activeHere = new Set((await supervisor.list()).filter((c) => c.role === 'active' && c.server === options.server).map((c) => c.database));
  await importAccountDocumentFiles({ dataDir, users: () => directory.listUsers(), apiFor, activeHere: (database) => activeHere.has(database), log: options.say });

  const ephemeral = options.ports === 'ephemeral';
  const port = (base: number): number => (ephemeral ? 0 : base + options.portOffset);
  const plan: ListenPlan = { host: options.listen, port: (service) => port(basePorts[service]) };
  const log = pino(
    { level: options.logLevel ?? 'info', base: { server: options.server }, redact: { paths: ['password', '*.password', 'req.headers.authorization'], censor: '[redacted]' } },
    options.logDestination ?? pino.destination(1),
  );
  // Set once the SMTP front end runs its mail flow; JMAP submits through it.
  let submission: MailSubmission | null = null;
  let unfollowMailFlow = (): void => undefined;
  const context = createFrontEndContext({
    mailSubmission: () => submission,
    directory: served,
    mailboxes: apiFor,
    hostname: options.listen === '127.0.0.1' || options.listen === '::1' ? 'localhost' : options.listen,
    serverName: options.server,
    tls: { cert: tls.value.cert, key: tls.value.key },
    log,
    metrics,
    publicFolders,
  });
  let servers: { https: FastifyInstance; http: FastifyInstance } | undefined;
  let frontEnds: FrontEnd[] = [];
  // The mail flow's outbound queue, once it runs (the admin API's /queue).
  let queue: QueueAdmin | null = null;
  const noQueue = fail('NOT_ACTIVE', 'the mail flow is not running');
  // Filled once everything listens; client set-up reads it per request.
  const bound: Partial<Record<ServiceName, number>> = {};
  try {
    const startedAtMs = Date.now();
    servers = await startHttpServers({
      adminToken,
      context,
      host: options.listen,
      httpsPort: plan.port('https'),
      httpPort: plan.port('http'),
      metrics: () => metrics.exposition(),
      httpsRoutes: [clientSetupRoutes({ context, ports: () => bound, addressBook: addressBookOf(served) }), peerRoutes(supervisor, peerSecret)],
      backend: {
        server: () => ({ name: options.server, startedAtMs }),
        copies: () => supervisor.list(),
        users: () => listUsers(directory, apiFor),
        addUser: (input) => addUser(directory, databases, apiFor, input),
        removeUser: (address) => removeUser(directory, apiFor, address),
        setPassword: (address, password) => directory.setPassword(address, password),
        setQuota: (address, quotaBytes) => setQuota(directory, apiFor, address, quotaBytes),
        domains: () => directory.listDomains(),
        addDomain: (name) => directory.addDomain(name),
        switchover: (database, to, copy) => supervisor.switchover(database, to, copy),
        suspend: (database, server, copy) => supervisor.suspend(database, server, copy),
        resume: (database, server, copy) => supervisor.resume(database, server, copy),
        reseed: (database, server, copy, options) => supervisor.reseed(database, server, copy, options),
        setLag: (database, server, copy, lag) => supervisor.setLag(database, server, copy, lag),
        playForward: (database, server, copy, to) => supervisor.playForward(database, server, copy, to),
        health: async () => healthOf(await supervisor.list()),
        history: () => metrics.history(),
        startMove: (address, to) => moves.start(address, to),
        moves: () => moves.list(),
        move: (id) => {
          const move = moves.get(id);
          return move === null ? fail('INVALID_ARGUMENT', `no move ${id}`) : ok(move);
        },
        cancelMove: (id) => moves.cancel(id),
        queue: () => queue?.list() ?? [],
        flushQueue: (id) => {
          if (queue === null) return noQueue;
          const flushed = queue.flush(id);
          return id !== undefined && flushed === 0 ? fail('NO_SUCH_MESSAGE', `no queued message ${id}`) : ok({ flushed });
        },
        deleteQueued: async (id, bounce) => {
          if (queue === null) return noQueue;
          return (await queue.remove(id, bounce)) ? ok({ deleted: id, bounced: bounce }) : fail('NO_SUCH_MESSAGE', `no queued message ${id}`);
        },
        startDiscovery: (request, actor) => discovery.start(request, actor),
        discoverySearches: () => discovery.list(),
        discoverySearch: (id) => {
          const search = discovery.get(id);
          return search === null ? fail('INVALID_ARGUMENT', `no search ${id}`) : ok(search);
        },
        publicFolders: publicFolderAdmin(publicFolders),
      },
    });
    frontEnds = await startFrontEnds(context, plan, { dataDir });
    queue = frontEnds.map((frontEnd) => (frontEnd as Partial<MailFlow>).queue).find((q) => q !== undefined) ?? null;
    submission = frontEnds.map((frontEnd) => (frontEnd as Partial<MailFlow>).submission).find((q) => q !== undefined) ?? null;
    // JMAP follows the queue from the start, not from its first request: a submission finished before any JMAP login still moves.
    if (submission !== null) unfollowMailFlow = followMailFlow(context, submission);
  } catch (error) {
    if (servers !== undefined) await Promise.allSettled([servers.https.close(), servers.http.close()]);
    await supervisor.stop();
    await directory.close();
    throw new StartError(`cannot listen: ${(error as Error).message}`);
  }
  bound.https = (servers.https.server.address() as AddressInfo).port;
  bound.http = (servers.http.server.address() as AddressInfo).port;
  for (const frontEnd of frontEnds) Object.assign(bound, frontEnd.ports);

  const adminUrl = `https://${options.listen}:${bound.https}`;
  if (options.kafka !== undefined) {
    await supervisor.advertise({ url: adminUrl, certificate: tls.value.cert, token: peerSecret }).catch((error: Error) => options.say(`advertising this server to the others failed: ${error.message}`));
  }
  writeFileSync(join(dataDir, serverFileName), JSON.stringify({ pid: process.pid, server: options.server, adminUrl, fingerprintSha256: tls.value.fingerprintSha256, startedAtMs: Date.now(), ports: bound }));
  options.say(`quire ${options.server} running on ${dataDir}`);
  options.say(`  admin API      ${adminUrl}/api/v1/  (Bearer token in ${adminSecretPath(dataDir)})`);
  options.say(`  API docs       ${adminUrl}/api/docs`);
  options.say(`  health         http://${options.listen}:${bound.http}/healthz  metrics http://${options.listen}:${bound.http}/metrics`);
  for (const frontEnd of frontEnds) options.say(`  ${frontEnd.description}`);
  options.say(`  directory      ${opened.value.description}`);
  options.say(`  TLS certificate sha256 ${tls.value.fingerprintSha256}${tls.value.generated ? ' (generated, self-signed)' : ''}`);
  options.say(
    options.kafka === undefined
      ? `  databases      ${databases.join(', ')} (active + passive copy each, embedded log shipping, ${options.durability ?? 'async'})`
      : `  databases      ${databases.map((d) => `${d} ${options.passive?.includes(d) ? 'passive' : 'active'}`).join(', ')} (Kafka log shipping via ${options.kafka.brokers.join(',')}, ${options.durability ?? 'async'})`,
  );
  const unserved = (Object.keys(basePorts) as ServiceName[]).filter((service) => bound[service] === undefined);
  if (unserved.length > 0) options.say(`  not yet served: ${unserved.map((service) => `${service} ${port(basePorts[service])}`).join(', ')}`);
  for (const line of printedOnce) options.say(`  FIRST START (shown once) ${line}`);

  moves.resume();
  metrics.startSampling(undefined, (error) => log.warn({ err: error.message }, 'metrics sample failed'));
  let stopped = false;
  return {
    supervisor,
    directory,
    context,
    ports: bound,
    adminToken,
    tlsCert: tls.value.cert,
    metrics,
    moves,
    publicFolders,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Each step says so when it is slow: a server that does not stop names what it waits on.
      const step = async (what: string, run: () => Promise<unknown> | unknown): Promise<void> => {
        const started = Date.now();
        const slow = setInterval(() => options.say(`stop: still ${what} after ${Date.now() - started} ms`), 5_000);
        try {
          await run();
        } finally {
          clearInterval(slow);
        }
      };
      metrics.stop();
      await step('stopping mailbox moves', () => moves.stop());
      await step('stopping discovery searches', () => discovery.stop());
      submission = null;
      unfollowMailFlow();
      await step('closing the front ends', () => Promise.allSettled(frontEnds.map((frontEnd) => frontEnd.close())));
      await step('closing the HTTPS server', () => servers.https.close());
      await step('closing the HTTP server', () => servers.http.close());
      await step('stopping the databases', () => supervisor.stop());
      handOvers.stop();
      await step('closing the directory', () => directory.close());
      rmSync(join(dataDir, serverFileName), { force: true });
    },
  };
}
