// The supervisor: starts one worker process per database copy on this server, restarts a
// crashed one (it recovers from its log on open) while the other databases go on serving, and
// runs each database's availability: it ships the active copy's durable batches through a
// shipping transport (embedded or Kafka, engine/replication/) to the passive copies, which
// verify the bytes, append them to their own log and replay them; it activates a passive copy
// on a planned switchover or when the active copy dies and cannot be restarted (best-copy
// selection, mount dial, fencing by activation generation); and it keeps each database's
// routing object pointing at the copy that is active now.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { MailboxApi } from './api.js';
import { crc32c } from './checksum.js';
import type { Role, SnapshotInfo } from './database.js';
import type { Result } from './errors.js';
import type { SearchIndexState } from './search/types.js';
import { batchEnvelope, checkEnvelope, ShippingError, type BatchEnvelope } from './replication/envelope.js';
import { EmbeddedTransport } from './replication/embedded.js';
import { copySnapshot, seedProgressName, type SnapshotSource } from './replication/seed.js';
import { DatabaseRouter } from './replication/router.js';
import { cutBackLog, describeTail, DivergentLogError, type DivergentTail } from './replication/divergence.js';
import { FencedError, type PeerAddress, type Publisher, type Release, type ShippingTransport, type Subscription } from './replication/transport.js';
import { type LogBatch, readLogTail } from './replication/lastlogs.js';
import { WorkerClient } from './worker/client.js';
import type { Notice, OpenParams, Shipped } from './worker/protocol.js';

export interface CopySpec {
  readonly database: string;
  readonly server: string;
  /** 1 for the first copy of a database on a server, 2 for the next ... */
  readonly copy: number;
  /** The role the copy starts in; activations change it. */
  readonly role: Role;
  readonly dir: string;
  /** Best-copy selection breaks ties by this (1 first). Default: the copy's place in the list. */
  readonly activationPreference?: number;
}

export type CopyState =
  | 'Initializing'
  | 'Mounting'
  | 'Mounted'
  | 'Healthy'
  | 'Seeding'
  /** A divergent log (an old active's tail after a lossy failover) is being cut back to the common point. */
  | 'Resynchronizing'
  | 'Suspended'
  | 'Failed'
  | 'FailedAndSuspended'
  | 'Dismounted';

/** async: answer once durable on the active copy. sync: also once safe in the transport. */
export type Durability = 'async' | 'sync';
/** How much acknowledged-but-unshipped log an automatic failover may give up. */
export type MountDial = 'lossless' | 'good' | 'best';

/** How long a reseed waits for the active copy it seeds from to be mounted. */
const reseedActiveWaitMs = 20_000;
/** Exchange's log file, the unit of its mount dial and best-copy rules, as bytes of Quire's log. */
const exchangeLogBytes = 1024 * 1024;
/** The dial in bytes of log: Exchange's 0 / 6 / 12 one-megabyte log files. */
export const mountDialBytesMax: Record<MountDial, number> = { lossless: 0, good: 6 * exchangeLogBytes, best: 12 * exchangeLogBytes };
/** Best-copy selection's first pass (shared/EXCHANGE.md): copy queue under 10 logs, replay queue under 50. */
const bestCopyQueueBytesMax = 10 * exchangeLogBytes;
const bestReplayQueueBytesMax = 50 * exchangeLogBytes;

/**
 * Best-copy selection (shared/EXCHANGE.md) over copies already known reachable, Healthy, not
 * suspended and not lagged, best first, in passes as Active Manager does: first the copies with
 * a copy queue under 10 logs and a replay queue under 50 (their missing tail is read from the
 * transport before mounting), and among those a Healthy content index before a crawling one
 * before a failed one; then the others, the most complete first. Ties go by activation
 * preference (1 first).
 */
export function rankCopies<C extends { readonly end: number; readonly replayed: number; readonly preference: number }>(
  copies: readonly C[],
  headPosition: number,
  indexState: (copy: C) => string | undefined,
): C[] {
  const head = Math.max(headPosition, ...copies.map((c) => c.end));
  const pass = (c: C): number => (head - c.end < bestCopyQueueBytesMax && c.end - c.replayed < bestReplayQueueBytesMax ? 0 : 1);
  const index = (c: C): number => ({ Healthy: 0, Crawling: 1 } as Record<string, number>)[indexState(c) ?? ''] ?? 2;
  return [...copies].sort((a, b) => pass(a) - pass(b) || (pass(a) === 0 ? index(a) - index(b) : 0) || b.end - a.end || a.preference - b.preference);
}

export interface CopyStatus {
  readonly database: string;
  readonly server: string;
  readonly copy: number;
  /** `lagged`: a passive copy with a replay lag (it receives and verifies at once, replays late). */
  readonly role: Role | 'lagged';
  readonly state: CopyState;
  readonly pid: number | null;
  readonly restarts: number;
  readonly lastLogPosition: number;
  readonly checkpointPosition: number;
  /** Bytes of log the active copy has that this copy has not received yet. */
  readonly copyQueueLength: number;
  /** Bytes this copy received and has not replayed into its state yet. */
  readonly replayQueueLength: number;
  /** End of the log this copy has verified and stored (passive: last inspected). */
  readonly lastInspectedPosition: number;
  /** End of the log replayed into this copy's state. */
  readonly lastReplayedPosition: number;
  /** How long ago the oldest batch this copy has not replayed became durable on the active (0 when current). */
  readonly replayLagMs: number;
  readonly activationGeneration: number;
  readonly activationPreference: number;
  readonly durability: Durability;
  readonly transport: ShippingTransport['kind'];
  /** The copy's content index (engine/search): Crawling, Healthy, Failed; NotApplicable when not running. */
  readonly contentIndexState: SearchIndexState | 'NotApplicable';
  /** The content index's progress: contents indexed, of how many (a crawl's or catch-up's progress bar); null when not running. */
  readonly contentIndexDocuments: number | null;
  readonly contentIndexDocumentsTotal: number | null;
  /** Contents stored but not indexed yet (searches verify them by brute force, still exact), and the age of the oldest; null when not running. */
  readonly contentIndexBacklog: number | null;
  readonly contentIndexLagMs: number | null;
  /** First log position this copy still keeps (truncation deletes whole segments below it). */
  readonly logStartPosition: number;
  /** While state is Seeding: bytes of the snapshot done (copied or kept from an interrupted run), of how many (null otherwise). */
  readonly seedBytesCopied: number | null;
  readonly seedBytesTotal: number | null;
  /** While Seeding: copy rate of this run, bytes per second. */
  readonly seedBytesPerSecond: number | null;
  /** A lagged copy replays only batches received this long ago (0: not lagged). */
  readonly replayLagTimeMs: number;
  /** A copy keeps log it replayed for this long before truncating it. */
  readonly truncationLagTimeMs: number;
  /** Free bytes where the copy keeps its files, and whether the low-disk guard holds its writes. */
  readonly diskFreeBytes: number | null;
  readonly lowDisk: boolean;
  readonly error: string | null;
}

/** Per copy: replay lag and truncation lag (`quire db set-lag`), kept in data/databases/<DB>/lag.json. */
export interface CopyLag {
  readonly replayLagMs: number;
  readonly truncationLagMs: number;
}

interface WorkerStatus {
  lastLogPosition: number;
  checkpointPosition: number;
  /** End of the log replayed into the copy's state (absent from older workers: the checkpoint). */
  replayedPosition?: number;
  diskFreeBytes?: number | null;
  lowDisk?: boolean;
  /** First log position still kept (older segments were truncated). */
  logStartPosition?: number;
  pid: number;
  searchIndex?: { state: SearchIndexState; documents: number; documentsTotal: number; backlogDocuments?: number; lagMs?: number };
}

const restartDelayMsMin = 100;
const restartDelayMsMax = 5000;
const shipBytesMax = 8 * 1024 * 1024;
/** Durable-batch times kept per database, for replay lag. */
const recentBatchesMax = 4096;
/** How long an activation waits for the chosen copy to read the last batches. */
const drainWaitMsMax = 30_000;
/** Each step of stop() that waits on Kafka may take this long; then the stop goes on (the log is the truth). */
const stopStepMsMax = 5_000;
/** A copy's status is asked for this long in list(); a hung worker keeps its last known numbers. */
const statusWaitMsMax = 5_000;
/** How long a switchover waits for the target copy to catch up. */
const catchUpWaitMsMax = 30_000;
const truncateIntervalMsDefault = 10_000;
/** How often lagged copies replay what became old enough. */
const lagReplayIntervalMs = 1_000;
/** The longest replay or truncation lag (Exchange allows 14 days). */
const maxLagMs = 14 * 86_400_000;
/** A fenced worker still running after this long is killed. */
const fencedKillDelayMs = 1_000;

class Copy {
  child: ChildProcess | null = null;
  role: Role;
  state: CopyState = 'Initializing';
  restarts = 0;
  /** Restarts since the copy last mounted; automatic failover counts these. */
  failedStarts = 0;
  restartDelayMs = restartDelayMsMin;
  status: WorkerStatus | null = null;
  error: string | null = null;
  suspended = false;
  /** A reseed in progress: bytes done so far, of how many; the log position it holds truncation at. */
  seed: { bytesCopied: number; bytesTotal: number; startedAtMs: number; bytesAtStart: number; holdAt: number } | null = null;
  /** The reseed running now: a second request for the same copy waits for it. */
  seeding: Promise<void> | null = null;
  lag: CopyLag = { replayLagMs: 0, truncationLagMs: 0 };
  /** Lagged: batches received and not replayed yet, with when they arrived (Date.now()). */
  readonly unreplayed: Array<{ end: number; atMs: number }> = [];
  /** With a truncation lag: when replay passed each position (Date.now()). */
  readonly replayedAt: Array<{ end: number; atMs: number }> = [];
  /** Superseded by a newer active copy: never restarted as active. */
  fenced = false;
  /** The supervisor is stopping this worker on purpose (switchover, promotion). */
  retiring = false;
  subscription: Subscription | null = null;
  generationSeen = 0;
  /**
   * Set when another copy was activated while this one was the failed active (same machine):
   * the log end the new active copy started from. Past it, this copy's log is its own
   * (divergent) and is cut back when the copy rejoins.
   */
  divergentAfter: number | null = null;
  /**
   * Positions this copy's feed showed to be common with the active copy's log: the end of the
   * last batch it compared equal or appended, and the positions of the ACTIVATIONs it read. A
   * divergence is cut back only at one of these, never at a position the feed cannot vouch for
   * (a truncated topic that starts past the real common point).
   */
  agreedEnd = -1;
  readonly activationPoints = new Set<number>();
  readonly client: WorkerClient;
  constructor(readonly spec: CopySpec, readonly preference: number, onNotice: (copy: Copy, notice: Notice) => void) {
    this.role = spec.role;
    this.client = new WorkerClient(spec.database, (notice) => onNotice(this, notice));
  }
  get name(): string {
    return `${this.spec.database}\\${this.spec.server}#${this.spec.copy}`;
  }
  get end(): number {
    return this.status?.lastLogPosition ?? 0;
  }
  get replayed(): number {
    return this.status?.replayedPosition ?? this.status?.checkpointPosition ?? 0;
  }
  get lagged(): boolean {
    return this.role === 'passive' && this.lag.replayLagMs > 0;
  }
  get running(): boolean {
    return this.child !== null && this.status !== null && this.state !== 'Initializing';
  }
}

class DatabaseGroup {
  generation = 0;
  active: Copy | null = null;
  publisher: Publisher | null = null;
  /** Everything before this position was handed to the publisher. */
  shippedEnd = 0;
  /** Everything before this position is safe in the transport. */
  safeEnd = 0;
  /** Highest log end the active copy reported. */
  headPosition = 0;
  pump: Promise<unknown> = Promise.resolve();
  publishing = new Set<Promise<void>>();
  /** The publisher failed (not fenced): reopen it and ship again from safeEnd before the next batch. */
  publisherBroken = false;
  /** An activation is in progress (start-up's, a late one, a failover or a switchover): no other may begin. */
  activating = false;
  /** The server whose copy is active, as the last activation said (this one or another). */
  activeServer: string | null = null;
  /** When the active copy's server was first seen missing from the servers' group. */
  activeMissingSinceMs: number | null = null;
  /** The active copy's server gave the database up (Release): take it over as if that server had left. */
  releasedBy: string | null = null;
  readonly recent: Array<{ end: number; atMs: number }> = [];
  /** The transport's first kept record (Kafka offset) after the last truncation. */
  transportStart = 0;
  readonly router: DatabaseRouter;
  constructor(readonly name: string, readonly durability: Durability, readonly generationFile: string, readonly lagFile: string) {
    this.router = new DatabaseRouter(name);
  }
}

export interface SupervisorOptions {
  readonly copies: readonly CopySpec[];
  readonly log?: (line: string) => void;
  /** Restart backoff ceiling (doubles from restartDelayMsMin up to this). */
  readonly restartDelayMsMax?: number;
  /** The shipping transport; default embedded (every copy under this supervisor). */
  readonly transport?: ShippingTransport;
  /** Per database or for all; default async. */
  readonly durability?: Durability | Readonly<Record<string, Durability>>;
  /** Default good (Exchange's GoodAvailability). */
  readonly mountDial?: MountDial;
  /**
   * An active copy whose worker died is restarted in place this many times (since it last
   * mounted) before a passive copy is activated instead. 0: activate a passive copy at once.
   */
  readonly restartsBeforeFailover?: number;
  /**
   * With a coordinating transport (Kafka): when the active copy's server leaves the servers'
   * group, the live servers take over in name order, each waiting this long per server ahead
   * of it (so the first one with a healthy copy wins). Default 3000.
   */
  readonly takeoverStaggerMs?: number;
  /** How often copies truncate their logs (default 10 s). */
  readonly truncateIntervalMs?: number;
  /** Log segment size of every copy (tests of truncation use small segments). */
  readonly logSegmentBytesMax?: number;
  /** The low-disk guard's reserve of every copy, bytes (0: off); default the engine's. */
  readonly diskFreeBytesMin?: number;
  /** Passive copies' checkpoint depth, bytes of log; default the engine's. */
  readonly checkpointDepthBytes?: number;
  /**
   * A failover first reads the batches the failed active copy's log holds past the chosen
   * copy's end (same machine: its files), as Exchange copies the last logs. Default true;
   * false mounts with what the transport holds (the mount dial still applies).
   */
  readonly attemptCopyLastLogs?: boolean;
  /**
   * The failed active copy is on another server (Kafka): asks that server for the batches its
   * log holds past `from` (server/peers.ts, over its admin API's HTTPS listener). Rejects or
   * ends early when it cannot be reached within a few seconds (dead, hung, partitioned).
   */
  readonly fetchLastLogs?: (server: string, request: LastLogsRequest) => AsyncIterable<LogBatch>;
  /**
   * The active copy is on another server (Kafka): asks that server for a snapshot of it, to reseed
   * a copy here (server/peers.ts: taken there, its files read over its admin API's HTTPS listener).
   */
  readonly fetchSnapshot?: (server: string, request: SnapshotRequest) => Promise<PeerSnapshot>;
  /**
   * A divergent copy's log was cut back (or could not be): what the cut-off part held. The
   * server gives the deliveries back from its safety net and reports the rest.
   */
  readonly onDivergentTail?: (tail: DivergentTail) => Promise<void> | void;
  /** Runs on the server holding the database's active copy for each payload handOver() sent (from any server). */
  readonly onHandOver?: (database: string, payload: Uint8Array) => Promise<void>;
}

/** What a server activating a copy asks the failed active copy's server for. */
export interface LastLogsRequest {
  readonly database: string;
  /** The new active copy's log end: batches from here on are wanted. */
  readonly from: number;
  /** The new activation's generation: it must be newer than the copy it asks about. */
  readonly generation: number;
  /** The server asking (the one activating). */
  readonly server: string;
}

/** What a server reseeding one of its copies asks the server holding the active copy for. */
export interface SnapshotRequest {
  readonly database: string;
  /** The copy to be seeded: its server and number (the snapshot's folder on the asked server is named after it). */
  readonly server: string;
  readonly copy: number;
}

/** A snapshot another server took of its active copy: its files, read from there. */
export interface PeerSnapshot {
  readonly info: SnapshotInfo;
  /** The copy it was taken of (files staged from another copy are never reused). */
  readonly source: string;
  readonly files: SnapshotSource;
  /** The files are copied (or the reseed gave up): the other server removes the snapshot. */
  release(): Promise<void>;
}

/** What to run to reseed a copy (it is run against the copy's own server). */
const reseedHint = (copy: { spec: CopySpec }): string => `reseed this copy: quire db reseed ${copy.spec.database} --copy ${copy.spec.server}#${copy.spec.copy}`;

export class Supervisor {
  private readonly copies: Copy[];
  private readonly groups = new Map<string, DatabaseGroup>();
  private readonly transport: ShippingTransport;
  private stopping = false;
  /** This server's name (the copies' server). */
  private readonly server: string;
  /** Servers ever seen in the servers' group: only one seen alive can be declared dead. */
  private readonly serversSeen = new Set<string>();
  private readonly truncationWarned = new Set<Copy>();
  private truncationTimer: NodeJS.Timeout | null = null;
  private lagTimer: NodeJS.Timeout | null = null;
  private readonly workerPath = fileURLToPath(new URL('./worker/main.js', import.meta.url));

  constructor(private readonly options: SupervisorOptions) {
    this.copies = options.copies.map((spec, i) => new Copy(spec, spec.activationPreference ?? i + 1, (copy, notice) => this.onNotice(copy, notice)));
    for (const copy of this.copies) copy.divergentAfter = readJson<{ position?: unknown }>(join(copy.spec.dir, divergentAfterFile))?.position as number | undefined ?? null;
    this.transport = options.transport ?? new EmbeddedTransport((database, from) => this.readActive(database, from));
    this.server = options.copies[0]?.server ?? 'MBX1';
    for (const copy of this.copies) {
      if (this.groups.has(copy.spec.database)) continue;
      const d = options.durability;
      const durability = d === undefined ? 'async' : typeof d === 'string' ? d : (d[copy.spec.database] ?? 'async');
      const group = new DatabaseGroup(copy.spec.database, durability, join(dirname(copy.spec.dir), 'activation.json'), join(dirname(copy.spec.dir), 'lag.json'));
      group.generation = readGeneration(group.generationFile);
      this.groups.set(copy.spec.database, group);
    }
    for (const copy of this.copies) copy.lag = readLags(this.group(copy.spec.database).lagFile)[`${copy.spec.server}#${copy.spec.copy}`] ?? copy.lag;
  }

  /** Starts every copy, waits until each is mounted (or failed), and opens each active copy's shipping. */
  async start(): Promise<void> {
    for (const group of this.groups.values()) await this.transport.prepare(group.name);
    const coordinator = this.transport.coordinator;
    if (coordinator === undefined) {
      // One machine: activation.json names the copy activated last (a failover or switchover
      // before a restart); it starts active, whatever the configuration says, and the others passive.
      for (const group of this.groups.values()) {
        const record = readJson<ActivationRecord>(group.generationFile);
        const named = this.copies.find((c) => c.spec.database === group.name && c.spec.server === record?.server && c.spec.copy === record?.copy);
        if (named === undefined || named.role === 'active') continue;
        for (const copy of this.copies) if (copy.spec.database === group.name) copy.role = copy === named ? 'active' : 'passive';
        this.say(`${named.name} starts active: it was activated last (generation ${record!.generation})`);
      }
    } else {
      // A copy configured active starts passive when the servers moved the database elsewhere
      // (a failover while this server was down): its log may be behind or divergent.
      const activations = await coordinator.readActivations();
      for (const group of this.groups.values()) {
        const activation = activations.get(group.name);
        if (activation === undefined) continue;
        group.generation = Math.max(group.generation, activation.generation);
        group.activeServer = activation.server;
        for (const copy of this.copies) {
          if (copy.spec.database !== group.name || copy.role !== 'active') continue;
          if (activation.server !== copy.spec.server || activation.copy !== copy.spec.copy) {
            copy.role = 'passive';
            this.say(`${copy.name} starts passive: ${activation.server}#${activation.copy} is active since generation ${activation.generation}`);
          }
        }
      }
    }
    // Each database's start-up activation is in progress until it is done below: an active copy
    // that mounts after it without one (its first start failed: e.g. a worker of a server killed
    // with -9 still held its store's lock) opens its shipping itself when it comes up.
    for (const group of this.groups.values()) group.activating = true;
    try {
      await Promise.all(this.copies.map((copy) => this.spawn(copy)));
      for (const group of this.groups.values()) {
        const active = this.copies.find((c) => c.spec.database === group.name && c.role === 'active' && c.state === 'Mounted');
        if (active !== undefined) await this.openShipping(group, active);
        group.activating = false;
      }
    } finally {
      // A spawn or openShipping that threw leaves no group activating.
      for (const group of this.groups.values()) group.activating = false;
    }
    await coordinator?.join(this.server, (members) => this.onMembers(members));
    await coordinator?.watchPeers((release) => this.onRelease(release));
    const onHandOver = this.options.onHandOver;
    if (coordinator !== undefined && onHandOver !== undefined) {
      await coordinator.receiveHandOvers(this.server, async (database, payload) => {
        // Every server reads every hand-over; the one holding the active copy acts on it.
        if (this.groups.get(database)?.active == null) return;
        await onHandOver(database, payload).catch((error: Error) => this.say(`${database}: a hand-over failed: ${error.message}`));
      });
    }
    const truncate = (): void => {
      this.truncationTimer = setTimeout(() => {
        void this.list()
          .then(() => this.truncateLogs())
          .catch(() => {})
          .finally(() => !this.stopping && truncate());
      }, this.options.truncateIntervalMs ?? truncateIntervalMsDefault);
      this.truncationTimer.unref();
    };
    truncate();
    this.lagTimer = setInterval(() => void this.replayMatured().catch(() => {}), lagReplayIntervalMs);
    this.lagTimer.unref();
  }

  /** The servers' group changed (or was polled): take over databases whose active server is gone. */
  private onMembers(members: ReadonlySet<string>): void {
    if (this.stopping) return;
    for (const member of members) this.serversSeen.add(member);
    const now = performance.now();
    for (const group of this.groups.values()) {
      const gone = group.activeServer;
      const left = gone !== null && ((!members.has(gone) && this.serversSeen.has(gone)) || group.releasedBy === gone);
      if (gone === null || gone === this.server || !left || group.active !== null || group.activating) {
        group.activeMissingSinceMs = null;
        continue;
      }
      group.activeMissingSinceMs ??= now;
      const rank = [...members].filter((m) => m !== gone).sort().indexOf(this.server);
      if (now - group.activeMissingSinceMs < rank * (this.options.takeoverStaggerMs ?? 3_000)) continue;
      if (this.candidates(group).length === 0) continue;
      const why = group.releasedBy === gone ? `server ${gone} gave the database up` : `server ${gone} left the servers' group`;
      this.say(`${group.name}: ${why}; taking over`);
      void this.failover(group, why).catch((error: Error) => this.say(`${group.name}: takeover failed: ${error.message}`));
    }
  }

  /** Another server gave a database up (its active copy failed there for good): take it over like a server that left. */
  private onRelease(release: Release): void {
    const group = this.groups.get(release.database);
    if (group === undefined || release.server === this.server || group.activeServer !== release.server) return;
    // An old release (read from the topic's start) of an activation since superseded.
    const known = Math.max(group.generation, ...this.copies.filter((c) => c.spec.database === group.name).map((c) => c.generationSeen));
    if (release.generation < known) return;
    this.say(`${group.name}: ${release.server} gave it up (generation ${release.generation})`);
    group.releasedBy = release.server;
  }

  /**
   * The active copy failed for good here and no copy here can take over, but other servers hold
   * copies (Kafka): stop shipping (what did not ship is fetched from this copy's log by the next
   * active, lastLogs), and tell the other servers to take the database over.
   */
  private release(group: DatabaseGroup, copy: Copy, why: string): void {
    copy.fenced = true;
    copy.state = copy.suspended ? 'FailedAndSuspended' : 'Failed';
    copy.error = `given up to the other servers: ${why}`;
    const generation = group.publisher?.generation ?? group.generation;
    this.dropActive(group);
    group.router.release();
    this.say(`${copy.name}: ${copy.error}`);
    void this.transport.coordinator
      ?.release({ database: group.name, server: this.server, generation })
      .catch((error: Error) => this.say(`${group.name}: telling the other servers failed: ${error.message}`));
  }

  /** The database has no active copy here now: the router stops reaching it and its publisher closes (nothing more ships from it). */
  private dropActive(group: DatabaseGroup): void {
    group.active = null;
    group.router.setTarget(null);
    const publisher = group.publisher;
    group.publisher = null;
    void publisher?.close().catch(() => {});
  }

  /**
   * Another server activates a copy of a database whose active copy is (or was) here, and asks
   * for the batches this copy's log holds past its new active's end ("attempt copy last logs"):
   * the copy is stopped for good as active first (killed if it runs: nothing more may be
   * acknowledged here), then its log is read from its files. Afterwards it rejoins as a passive copy.
   */
  async lastLogs(request: LastLogsRequest): Promise<AsyncGenerator<LogBatch>> {
    const group = this.group(request.database);
    const copy = this.copies.find((c) => c.spec.database === group.name && c.role === 'active');
    if (copy === undefined) throw new Error(`${group.name} has no active copy on ${this.server}`);
    const known = Math.max(group.generation, group.publisher?.generation ?? 0);
    if (request.generation <= known) throw new Error(`${group.name}: generation ${request.generation} is not newer than this copy's ${known}`);
    if (request.server === this.server) throw new Error(`${group.name}: a request from this server itself`);
    copy.fenced = true;
    copy.state = 'Failed';
    copy.error = `failed over to ${request.server} (generation ${request.generation}); its last logs fetched from ${request.from}`;
    if (group.active === copy) this.dropActive(group);
    group.activeServer = request.server;
    group.releasedBy = null;
    const child = copy.child;
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    this.say(`${copy.name}: ${copy.error}`);
    const supervisor = this;
    return (async function* () {
      try {
        yield* readLogTail(copy.spec.dir, request.from);
      } finally {
        // Its log is a prefix of the new active's now: it follows it as a passive copy.
        copy.role = 'passive';
        copy.fenced = false;
        if (!supervisor.stopping && copy.child === null) void supervisor.spawn(copy).catch(() => {});
      }
    })();
  }

  /**
   * Gives a payload to the server holding the database's active copy: this one (called at
   * once), or another through the transport's coordinator (Kafka).
   */
  async handOver(database: string, payload: Uint8Array): Promise<void> {
    const group = this.group(database);
    if (group.active !== null && this.options.onHandOver !== undefined) return this.options.onHandOver(database, payload);
    const coordinator = this.transport.coordinator;
    if (coordinator === undefined) throw new Error(`${database} has no active copy to hand over to`);
    await coordinator.handOver(database, payload);
  }

  /** Tells the other servers how to reach this one for last logs (Kafka; nothing with the embedded transport). */
  async advertise(peer: { url: string; certificate: string; token: string }): Promise<void> {
    await this.transport.coordinator?.advertise({ server: this.server, ...peer });
  }

  /** The address another server advertised (undefined before it did, or with the embedded transport). */
  peer(server: string): PeerAddress | undefined {
    return this.transport.coordinator?.peer(server);
  }

  /** A database's stable handle: always reaches the copy that is active now. */
  api(database: string): MailboxApi {
    return this.group(database).router;
  }

  /** One copy's own client, whatever its role (tests, and `quire db` internals). */
  copyClient(database: string, server: string, copy?: number): WorkerClient {
    return this.copy(database, server, copy).client;
  }

  databases(): string[] {
    return [...this.groups.keys()];
  }

  private group(database: string): DatabaseGroup {
    const group = this.groups.get(database);
    if (group === undefined) throw new Error(`no database ${database} on this server`);
    return group;
  }

  private copy(database: string, server: string, copy?: number): Copy {
    const found = this.copies.find((c) => c.spec.database === database && c.spec.server === server && (copy === undefined || c.spec.copy === copy));
    if (found === undefined) throw new Error(`no copy of ${database} on ${server}${copy === undefined ? '' : ` #${copy}`}`);
    return found;
  }

  private say(line: string): void {
    this.options.log?.(line);
  }

  private spawn(copy: Copy): Promise<void> {
    copy.state = 'Initializing';
    copy.status = null;
    const group = this.group(copy.spec.database);
    const params: OpenParams = {
      name: copy.spec.database,
      dir: copy.spec.dir,
      role: copy.role,
      shipAck: copy.role === 'active' && group.durability === 'sync',
      ...(this.options.logSegmentBytesMax === undefined ? {} : { logSegmentBytesMax: this.options.logSegmentBytesMax }),
      ...(this.options.diskFreeBytesMin === undefined ? {} : { diskFreeBytesMin: this.options.diskFreeBytesMin }),
      ...(this.options.checkpointDepthBytes === undefined ? {} : { checkpointDepthBytes: this.options.checkpointDepthBytes }),
      // A lagged copy opens at its checkpoint: what it received stays unreplayed until old enough.
      ...(copy.lagged ? { replayAtOpen: false } : {}),
    };
    const child = fork(this.workerPath, [], {
      serialization: 'advanced',
      env: { ...process.env, QUIRE_WORKER: JSON.stringify(params) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    copy.child = child;
    child.on('error', (error) => this.say(`${copy.name} worker ${child.pid}: ${error.message}`));
    copy.client.attach(child);
    const ready = new Promise<void>((resolve) => {
      const onReady = (message: Notice): void => {
        if ('notice' in message && (message.notice === 'ready' || message.notice === 'failed')) {
          child.off('message', onReady);
          resolve();
        }
      };
      child.on('message', onReady);
      child.once('exit', () => resolve());
    });
    child.once('exit', (code, signal) => this.onExit(copy, child, code, signal));
    return ready;
  }

  private onNotice(copy: Copy, notice: Notice): void {
    const group = this.group(copy.spec.database);
    switch (notice.notice) {
      case 'ready':
        copy.status = notice.status as WorkerStatus;
        copy.error = null;
        copy.failedStarts = 0;
        if (copy.role === 'active') {
          copy.state = 'Mounted';
          group.headPosition = Math.max(group.headPosition, copy.end);
          if (group.active === copy) {
            // The same copy came back after a crash: ship what it made durable but never shipped.
            void this.ship(group, copy.end, copy.end, null).catch(() => {});
            group.router.setTarget(copy.client);
            if (!group.activating) group.router.release();
          } else if (group.active === null && !group.activating && !copy.fenced && !this.stopping) {
            // It failed its first start and came up on a restart after start-up's activation: nobody activated it yet.
            group.activating = true;
            void this.openShipping(group, copy)
              .catch((error: Error) => this.say(`${copy.name}: cannot open shipping: ${error.message}`))
              .finally(() => (group.activating = false));
          }
          if (this.transport instanceof EmbeddedTransport) this.transport.kick(group.name);
        } else {
          // A lagged copy's unreplayed log of before this start counts as received now (the
          // arrival times died with the old process): it is replayed one lag from now, never early.
          if (copy.lagged && copy.end > copy.replayed && (copy.unreplayed.at(-1)?.end ?? 0) < copy.end) copy.unreplayed.push({ end: copy.end, atMs: Date.now() });
          // Healthy once its feed is open (subscribe).
          copy.state = copy.suspended ? 'Suspended' : 'Initializing';
          if (copy.divergentAfter !== null && copy.end > copy.divergentAfter) {
            void this.cutBackDivergent(copy, copy.divergentAfter, `${copy.name} was failed over from at ${copy.divergentAfter} and its log reaches ${copy.end}`);
          } else if (!copy.suspended) {
            copy.divergentAfter = null;
            void this.subscribe(copy).catch((error: Error) => {
              copy.state = 'Failed';
              copy.error = `cannot subscribe to shipping: ${error.message}`;
              this.say(`${copy.name}: ${copy.error}`);
            });
          }
        }
        this.say(`${copy.name} ${copy.state.toLowerCase()} (pid ${copy.status.pid}, log at ${copy.end})`);
        break;
      case 'failed':
        copy.state = copy.suspended ? 'FailedAndSuspended' : 'Failed';
        copy.error = notice.error;
        this.say(`${copy.name} failed: ${notice.error}`);
        break;
      case 'batch': {
        if (copy.status !== null) copy.status.lastLogPosition = notice.end;
        if (copy.role !== 'active' || group.active !== copy) {
          this.answerShipped(copy, notice.seq, `${copy.name} is not the active copy of ${group.name}`);
          break;
        }
        group.headPosition = Math.max(group.headPosition, notice.end);
        group.recent.push({ end: notice.end, atMs: performance.now() });
        if (group.recent.length > recentBatchesMax) group.recent.splice(0, group.recent.length - recentBatchesMax);
        const shipped = this.ship(group, notice.start, notice.end, notice.bytes);
        if (group.durability === 'sync') shipped.then(() => this.answerShipped(copy, notice.seq), (error: Error) => this.answerShipped(copy, notice.seq, error.message));
        else shipped.catch(() => {});
        break;
      }
      case 'change':
        break;
    }
  }

  private answerShipped(copy: Copy, seq: number, error?: string): void {
    const message: Shipped = error === undefined ? { shipped: seq } : { shipped: seq, error };
    // The worker may be dying: a failed send is its exit's business, not an uncaught EPIPE.
    if (copy.child?.connected) copy.child.send(message, () => {});
  }

  /** Reads verified batches of the database's active copy from `from` (the embedded transport's catch-up). */
  private async readActive(database: string, from: number): Promise<Array<{ start: number; bytes: Uint8Array }>> {
    const active = this.groups.get(database)?.active;
    if (active == null || active.state !== 'Mounted' || from >= active.end) return [];
    try {
      return (await active.client.call('readBatches', { from, bytesMax: shipBytesMax })) as Array<{ start: number; bytes: Uint8Array }>;
    } catch (error) {
      // The active copy died during the read: nothing to read now (the next activation kicks the
      // copies again). Failing here would fail the very copies a failover needs.
      if (active.child !== null && active.state === 'Mounted') throw error;
      return [];
    }
  }

  /**
   * Hands a durable batch to the publisher, in log order. The notice's own bytes are used when
   * the batch starts where shipping stands; a gap (batches made durable while nobody shipped,
   * e.g. just before a crash) is read back from the active copy's log first.
   * Resolves once the batch is safe in the transport.
   */
  private ship(group: DatabaseGroup, start: number, end: number, bytes: Uint8Array | null): Promise<void> {
    const step = group.pump.then(async () => {
      const active = group.active;
      if (group.publisher === null || active === null) throw new ShippingError(`${group.name}: no publisher`);
      if (group.publisherBroken) await this.reopenPublisher(group, active);
      const publisher = group.publisher;
      const pending: Array<Promise<void>> = [];
      const publish = (from: number, data: Uint8Array): void => {
        const envelope = batchEnvelope(group.name, publisher.generation, active.spec.server, active.spec.copy, from, data);
        const done = publisher.publish(envelope).then(() => {
          group.safeEnd = Math.max(group.safeEnd, envelope.endPosition);
        });
        group.publishing.add(done);
        void done.catch((error: Error) => this.onPublishFailed(group, publisher, error)).finally(() => group.publishing.delete(done));
        pending.push(done);
        group.shippedEnd = envelope.endPosition;
      };
      while (group.shippedEnd < start) {
        const batches = (await active.client.call('readBatches', { from: group.shippedEnd, bytesMax: shipBytesMax })) as Array<{ start: number; bytes: Uint8Array }>;
        if (batches.length === 0) break;
        for (const batch of batches) if (batch.start < start || bytes === null) publish(batch.start, batch.bytes);
      }
      if (bytes !== null && start === group.shippedEnd) publish(start, bytes);
      return { done: Promise.all(pending) };
    });
    group.pump = step.catch(() => {});
    return step.then(({ done }) => done.then(() => {}));
  }

  private onPublishFailed(group: DatabaseGroup, publisher: Publisher, error: Error): void {
    if (group.publisher !== publisher) return;
    if (!(error instanceof FencedError)) {
      // Kafka unreachable, a transaction that timed out...: what failed was aborted, so ship
      // again from the last safe position with a fresh publisher (see ship).
      if (!group.publisherBroken) this.say(`${group.name}: ${error.message}; shipping resumes from ${group.safeEnd}`);
      group.publisherBroken = true;
      return;
    }
    const active = group.active;
    this.say(`${group.name}: ${error.message}`);
    if (active !== null) this.retireFenced(group, active, error.message);
  }

  private async reopenPublisher(group: DatabaseGroup, active: Copy): Promise<void> {
    await group.publisher?.close();
    group.publisher = null;
    const generation = this.nextGeneration(group);
    group.publisher = await this.transport.openPublisher(group.name, { server: active.spec.server, copy: active.spec.copy }, generation, group.safeEnd);
    group.publisherBroken = false;
    group.shippedEnd = group.safeEnd;
  }

  /** The active copy learned a newer one took over: route nothing to it and stop it; it never writes again as active. */
  private retireFenced(group: DatabaseGroup, copy: Copy, reason: string): void {
    copy.fenced = true;
    copy.state = 'Failed';
    copy.error = `fenced: ${reason}`;
    if (group.active === copy) this.dropActive(group);
    // The worker learns it through its failed commit (sync) and exits by itself; the kill is for
    // a worker that does not (async mode), after the refusal had time to reach the client.
    const child = copy.child;
    if (child !== null) setTimeout(() => child.kill('SIGKILL'), fencedKillDelayMs).unref();
  }

  private async openShipping(group: DatabaseGroup, active: Copy): Promise<void> {
    const generation = this.nextGeneration(group);
    group.publisher = await this.transport.openPublisher(group.name, { server: active.spec.server, copy: active.spec.copy }, generation, active.end);
    group.active = active;
    group.shippedEnd = active.end;
    group.safeEnd = active.end;
    group.headPosition = Math.max(group.headPosition, active.end);
    group.router.setTarget(active.client);
    group.activeServer = active.spec.server;
    writeGeneration(group.generationFile, group.generation, { server: active.spec.server, copy: active.spec.copy });
    if (this.transport instanceof EmbeddedTransport) this.transport.kick(group.name);
    await this.transport.coordinator?.recordActivation({ database: group.name, generation, server: active.spec.server, copy: active.spec.copy });
    this.say(`${active.name} active at generation ${generation} (${this.transport.kind} shipping, ${group.durability})`);
  }

  private nextGeneration(group: DatabaseGroup): number {
    for (const copy of this.copies) if (copy.spec.database === group.name) group.generation = Math.max(group.generation, copy.generationSeen);
    group.generation += 1;
    writeGeneration(group.generationFile, group.generation);
    return group.generation;
  }

  private async subscribe(copy: Copy): Promise<void> {
    if (copy.subscription !== null || this.stopping || copy.role !== 'passive') return;
    copy.agreedEnd = -1;
    copy.activationPoints.clear();
    const group = this.group(copy.spec.database);
    const subscription = await this.transport.subscribe({
      database: group.name,
      who: { server: copy.spec.server, copy: copy.spec.copy },
      expected: () => copy.end,
      deliver: (envelope) => this.receive(copy, envelope),
      onError: (error) => {
        if (copy.subscription !== subscription) return;
        copy.subscription = null;
        if (error instanceof DivergentLogError && !this.stopping && copy.role === 'passive') {
          void this.cutBackDivergent(copy, error.position, error.message);
          return;
        }
        copy.state = copy.suspended ? 'FailedAndSuspended' : 'Failed';
        copy.error = `shipping stopped: ${error.message}`;
        this.say(`${copy.name}: ${copy.error}`);
      },
    });
    if (copy.role !== 'passive' || copy.suspended || this.stopping || copy.subscription !== null || copy.child === null) await subscription.close();
    else {
      copy.subscription = subscription;
      copy.state = 'Healthy';
    }
  }

  /** A passive copy takes one envelope: checks it, then its worker scans, appends and replays the bytes. */
  private async receive(copy: Copy, envelope: BatchEnvelope): Promise<void> {
    const group = this.group(copy.spec.database);
    checkEnvelope(envelope, group.name);
    if (envelope.kind === 'ACTIVATION') {
      copy.activationPoints.add(envelope.firstPosition);
      copy.generationSeen = Math.max(copy.generationSeen, envelope.generation);
      if (envelope.generation >= group.generation) group.activeServer = envelope.server;
      // Another server activated a copy of a database this server holds active: ours is superseded.
      const publisher = group.publisher;
      if (group.active !== null && publisher !== null && envelope.generation > publisher.generation) {
        this.retireFenced(group, group.active, `${envelope.server}#${envelope.copy} became active at generation ${envelope.generation}`);
      }
      return;
    }
    if (envelope.generation < copy.generationSeen) throw new ShippingError(`batch at ${envelope.firstPosition} is from generation ${envelope.generation}, ${copy.name} already saw ${copy.generationSeen}`);
    if (copy.status === null || copy.child === null) throw new ShippingError(`${copy.name} is not running`);
    if (envelope.endPosition <= copy.end) {
      // A redelivery of positions this copy has: they must hold the same bytes, or this copy's
      // log went its own way (an old active's unshipped tail after a failover). Positions this
      // copy already truncated away cannot be compared (its replayed state holds them).
      if (envelope.endPosition <= (copy.status.logStartPosition ?? 0)) return;
      const own = await copy.client
        .call('readBatches', { from: envelope.firstPosition, bytesMax: 1 })
        .then((batches) => (batches as Array<{ start: number; bytes: Uint8Array }>)[0], () => undefined);
      if (own === undefined || own.start !== envelope.firstPosition || crc32c(own.bytes) !== envelope.checksum) {
        throw this.divergence(copy, envelope.firstPosition, `${copy.name} has a different batch at ${envelope.firstPosition} than the active copy shipped (divergent log)`);
      }
      copy.agreedEnd = envelope.endPosition;
      return;
    }
    if (envelope.firstPosition < copy.end) {
      throw this.divergence(copy, envelope.firstPosition, `${copy.name} ends at ${copy.end} but the active copy's next batch starts at ${envelope.firstPosition} (divergent log)`);
    }
    if (envelope.firstPosition !== copy.end) {
      throw new ShippingError(`${copy.name} ends at ${copy.end} but the next batch starts at ${envelope.firstPosition} (${envelope.firstPosition > copy.end ? 'gap' : 'divergent log'}): ${reseedHint(copy)}`);
    }
    let replayTo: number | undefined;
    if (copy.lagged) {
      copy.unreplayed.push({ end: envelope.endPosition, atMs: Date.now() });
      replayTo = this.maturedEnd(copy);
    }
    // Sync mode: the copy's answer is the active's acknowledgement, so it must mean marked durable there.
    const mark = group.durability === 'sync';
    this.noteStatus(copy, (await copy.client.call('receiveBatch', { start: envelope.firstPosition, bytes: envelope.bytes, ...(replayTo === undefined ? {} : { replayTo }), ...(mark ? { mark } : {}) })) as WorkerStatus);
    copy.agreedEnd = copy.end;
  }

  /** The error for a copy whose log differs from the active's at `position`: cut back there only if the feed vouches it is common. */
  private divergence(copy: Copy, position: number, message: string): ShippingError {
    if (position === copy.agreedEnd || copy.activationPoints.has(position)) return new DivergentLogError(message, position);
    return new ShippingError(`${message}; the common point is not known (the feed no longer holds it): ${reseedHint(copy)}`);
  }

  /** Takes a worker's fresh numbers, and notes when replay passed a position (truncation lag). */
  private noteStatus(copy: Copy, status: WorkerStatus): void {
    const before = copy.replayed;
    // Within one worker's life its log end never goes back: an answer that left before a batch
    // was received must not move it back (receive() checks the next batch against it).
    const known = copy.status?.lastLogPosition ?? 0;
    copy.status = { ...status, pid: copy.status?.pid ?? status.pid, lastLogPosition: Math.max(status.lastLogPosition, known) };
    while (copy.unreplayed.length > 0 && copy.unreplayed[0]!.end <= copy.replayed) copy.unreplayed.shift();
    if (copy.lag.truncationLagMs > 0 && copy.replayed > before) {
      copy.replayedAt.push({ end: copy.replayed, atMs: Date.now() });
      if (copy.replayedAt.length > recentBatchesMax) copy.replayedAt.splice(0, copy.replayedAt.length - recentBatchesMax);
    }
  }

  /** A lagged copy: the end of the last batch received at least its replay lag ago (or what it replayed). */
  private maturedEnd(copy: Copy, nowMs = Date.now()): number {
    let end = copy.replayed;
    for (const batch of copy.unreplayed) {
      if (batch.atMs > nowMs - copy.lag.replayLagMs) break;
      end = batch.end;
    }
    return end;
  }

  /** Lagged copies replay what has become old enough (every second). */
  private async replayMatured(): Promise<void> {
    for (const copy of this.copies) {
      if (!copy.lagged || !copy.running || copy.seed !== null) continue;
      const to = this.maturedEnd(copy);
      if (to <= copy.replayed) continue;
      try {
        this.noteStatus(copy, (await copy.client.call('playForward', { to, boundary: true })) as WorkerStatus);
      } catch {
        // the worker went away; its restart replays from its checkpoint when the time comes
      }
    }
  }

  /**
   * Plays a lagged (or any passive) copy forward on demand: to the end of its log, to a log
   * position (every whole batch ending at or before it), or to a time (every batch received at
   * or before it). Its replay lag applies again to what arrives later.
   */
  async playForward(database: string, server: string, copyNumber?: number, to: { position?: number; timeMs?: number } = {}): Promise<CopyStatus> {
    const copy = this.copy(database, server, copyNumber ?? this.passiveCopyNumber(database, server));
    if (copy.role !== 'passive') throw new Error(`${copy.name} is active; only a passive copy plays its log forward`);
    if (!copy.running) throw new Error(`${copy.name} is ${copy.state}, not running`);
    let position = to.position ?? copy.end;
    // Batch ends this supervisor saw arrive are boundaries; any other position is found by the worker.
    let boundary = position === copy.end || copy.unreplayed.some((b) => b.end === position);
    if (to.timeMs !== undefined) {
      position = copy.replayed;
      for (const batch of copy.unreplayed) if (batch.atMs <= to.timeMs) position = batch.end;
      boundary = true;
    }
    this.noteStatus(copy, (await copy.client.call('playForward', { to: position, boundary })) as WorkerStatus);
    this.say(`${copy.name} played forward to ${copy.replayed} (asked ${position}, log at ${copy.end})`);
    return (await this.list()).find((c) => c.database === database && c.server === copy.spec.server && c.copy === copy.spec.copy)!;
  }

  /** Sets a copy's replay lag and truncation lag (kept in lag.json); a lagged copy takes effect at once, without a restart. */
  async setLag(database: string, server: string, copyNumber: number | undefined, lag: CopyLag): Promise<void> {
    const copy = this.copy(database, server, copyNumber ?? this.copies.find((c) => c.spec.database === database && c.spec.server === server)?.spec.copy);
    if (!(lag.replayLagMs >= 0 && lag.truncationLagMs >= 0 && lag.replayLagMs <= maxLagMs && lag.truncationLagMs <= maxLagMs)) {
      throw new Error(`lags must be between 0 and ${maxLagMs / 86_400_000} days`);
    }
    const group = this.group(database);
    const lags = readLags(group.lagFile);
    lags[`${copy.spec.server}#${copy.spec.copy}`] = lag;
    const temp = `${group.lagFile}.tmp`;
    await writeFile(temp, JSON.stringify(lags, null, 2));
    await rename(temp, group.lagFile);
    const wasLagged = copy.lagged;
    copy.lag = lag;
    // A copy that was lagged and is no more replays everything it holds now.
    if (wasLagged && !copy.lagged && copy.running) this.noteStatus(copy, (await copy.client.call('playForward', { to: copy.end, boundary: true })) as WorkerStatus);
    this.say(`${copy.name}: replay lag ${lag.replayLagMs} ms, truncation lag ${lag.truncationLagMs} ms`);
  }

  private passiveCopyNumber(database: string, server: string): number | undefined {
    return this.copies.find((c) => c.spec.database === database && c.spec.server === server && c.role === 'passive')?.spec.copy;
  }

  private onExit(copy: Copy, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (copy.child !== child) return;
    copy.child = null;
    copy.client.detach(`worker exited (${signal ?? code})`);
    const subscription = copy.subscription;
    copy.subscription = null;
    void subscription?.close();
    const group = this.group(copy.spec.database);
    if (this.stopping || copy.retiring) {
      if (copy.state !== 'Failed') copy.state = 'Dismounted';
      return;
    }
    if (copy.fenced) {
      copy.state = 'Failed';
      this.say(`${copy.name} worker ${child.pid} stopped: ${copy.error}`);
      return;
    }
    copy.state = copy.suspended ? 'FailedAndSuspended' : 'Failed';
    copy.restarts += 1;
    copy.failedStarts += 1;
    if (copy.role === 'active' && group.active === copy) {
      // Calls wait in the router (bounded) for the restart or the failover, not fail at once.
      void group.router.hold();
      group.router.setTarget(null);
      const budget = this.options.restartsBeforeFailover ?? 3;
      if (copy.failedStarts > budget && this.candidates(group).length > 0) {
        this.say(`${copy.name} worker ${child.pid} exited (${signal ?? code}); failing over`);
        void this.failover(group, `worker exited (${signal ?? code})`).catch((error: Error) => this.say(`${group.name}: failover failed: ${error.message}`));
        return;
      }
      if (copy.failedStarts > budget && this.transport.coordinator !== undefined) {
        this.release(group, copy, `worker ${child.pid} exited (${signal ?? code}) after ${copy.failedStarts - 1} restarts, no copy here to activate`);
        return;
      }
    }
    const delay = copy.restartDelayMs;
    copy.restartDelayMs = Math.min(this.options.restartDelayMsMax ?? restartDelayMsMax, copy.restartDelayMs * 2);
    this.say(`${copy.name} worker ${child.pid} exited (${signal ?? code}); restarting in ${delay} ms`);
    setTimeout(() => {
      if (!this.stopping && copy.child === null && !copy.fenced) void this.spawn(copy).then(() => setTimeout(() => (copy.restartDelayMs = restartDelayMsMin), 30_000).unref());
    }, delay).unref();
  }

  /**
   * Log truncation (shared/EXCHANGE.md): each copy deletes whole segments below its own
   * checkpoint and, with the embedded transport (where passive copies catch up from the active
   * copy's log), below what every other copy of the database has replayed. A suspended or
   * failed copy holds truncation where it stopped, and says so.
   */
  private async truncateLogs(): Promise<void> {
    const now = Date.now();
    for (const group of this.groups.values()) {
      // The transport's own store (a Kafka topic): truncated by the server holding the active copy.
      if (group.active !== null && this.transport.truncate !== undefined) {
        await this.transport.truncate(group.name, { server: group.active.spec.server, copy: group.active.spec.copy }).then(
          (kept) => {
            if (kept !== null && kept > group.transportStart) {
              group.transportStart = kept;
              this.say(`${group.name}: ${this.transport.kind} records below offset ${kept} deleted (every copy has them)`);
            }
          },
          (error: Error) => this.say(`${group.name}: truncating the ${this.transport.kind} records failed: ${error.message}`),
        );
      }
      const copies = this.copies.filter((c) => c.spec.database === group.name);
      for (const copy of copies) {
        if (!copy.running || copy.status === null) continue;
        let position = copy.status.checkpointPosition;
        if (copy.lag.truncationLagMs > 0) {
          // Truncation lag: keep what was replayed less than that long ago.
          const old = now - copy.lag.truncationLagMs;
          while (copy.replayedAt.length > 1 && copy.replayedAt[1]!.atMs <= old) copy.replayedAt.shift();
          const mark = copy.replayedAt[0];
          position = Math.min(position, mark !== undefined && mark.atMs <= old ? mark.end : (copy.status.logStartPosition ?? 0));
        }
        let heldBy: Copy | null = null;
        if (this.transport.kind === 'embedded') {
          for (const other of copies) {
            if (other === copy) continue;
            // Every other copy reads its next batches from this log: keep what it has not
            // inspected (lagged copies) or replayed (the others); a reseed holds it at its
            // snapshot's end, from where the reseeded copy catches up.
            const needs = other.seed !== null ? other.seed.holdAt : other.status === null ? 0 : other.lagged ? other.end : other.replayed;
            if (needs < position) {
              position = needs;
              heldBy = other;
            }
          }
        }
        if (heldBy !== null && (heldBy.suspended || heldBy.state === 'Failed') && !this.truncationWarned.has(heldBy)) {
          this.truncationWarned.add(heldBy);
          this.say(`warning: ${heldBy.name} (${heldBy.state}) holds log truncation of ${copy.name} at ${position}; its log grows until the copy is resumed or reseeded`);
        }
        if (heldBy === null || (!heldBy.suspended && heldBy.state !== 'Failed')) this.truncationWarned.delete(heldBy as Copy);
        if (position <= (copy.status.logStartPosition ?? 0)) continue;
        try {
          const result = (await copy.client.call('truncateLog', { position })) as { ok: boolean; value?: { logStartPosition: number } };
          if (result.ok && result.value !== undefined && copy.status !== null) copy.status.logStartPosition = result.value.logStartPosition;
        } catch {
          // the worker went away; the next pass tries again
        }
      }
    }
  }

  /** Passive copies that could become active, best first (see rankCopies). */
  private candidates(group: DatabaseGroup): Copy[] {
    const copies = this.copies.filter((c) => c.spec.database === group.name && c.role === 'passive' && c.state === 'Healthy' && !c.suspended && !c.lagged && c.child !== null);
    return rankCopies(copies, group.headPosition, (c) => c.status?.searchIndex?.state);
  }

  /**
   * Activates the best passive copy after the active one died: fence the old active (a new
   * publisher generation), let the chosen copy read every batch the transport holds, check the
   * mount dial, remount it as active and point the router at it.
   */
  async failover(group: DatabaseGroup | string, reason: string): Promise<void> {
    const g = typeof group === 'string' ? this.group(group) : group;
    if (g.activating) return;
    g.activating = true;
    void g.router.hold();
    try {
      const old = g.active;
      if (old !== null) {
        old.state = 'Failed';
        old.error = `failed over: ${reason}`;
        // Its worker may still run (hung, not dead): it is on this machine, so stop it for good
        // before another copy takes writes. A worker on another server is fenced by the transport.
        old.fenced = true;
        old.child?.kill('SIGKILL');
      }
      const candidate = this.candidates(g)[0];
      if (candidate === undefined) throw new Error(`no healthy passive copy of ${g.name} to activate`);
      await this.activate(g, candidate, 'failover', old);
      if (old !== null) {
        old.role = 'passive';
        old.fenced = false;
      }
    } finally {
      g.activating = false;
      g.router.release();
    }
  }

  /** The chosen passive copy becomes active (after the old active is stopped or dead). */
  private async activate(group: DatabaseGroup, candidate: Copy, why: 'failover' | 'switchover', failed: Copy | null = null): Promise<void> {
    // Read before the new ACTIVATION reaches the candidate's feed (which names the new server).
    const failedServer = group.activeServer;
    const lostBefore = group.durability === 'sync' ? group.safeEnd : group.headPosition;
    this.dropActive(group);
    const generation = this.nextGeneration(group);
    const who = { server: candidate.spec.server, copy: candidate.spec.copy };
    const started = performance.now();
    const activationEnd = candidate.end;
    const publisher = await this.transport.openPublisher(group.name, who, generation, activationEnd);
    try {
      // The ACTIVATION marker went out after the fence: once the copy read it, it has read
      // every batch the old active committed to the transport.
      const subscription = candidate.subscription;
      if (subscription === null) throw new Error(`${candidate.name} is not receiving`);
      await withTimeout(subscription.drained(generation), drainWaitMsMax, `${candidate.name} reading the last batches`);
      if (this.options.attemptCopyLastLogs !== false) {
        if (failed !== null) await this.fetchLastLogs(group, failed, candidate, generation);
        else if (why === 'failover' && failedServer !== null && failedServer !== this.server) await this.fetchRemoteLastLogs(group, failedServer, candidate, generation);
      }
      // What the failed copy's log holds past this point is its own: cut back when it rejoins.
      if (failed !== null) {
        failed.divergentAfter = candidate.end;
        writeJson(join(failed.spec.dir, divergentAfterFile), { position: candidate.end, generation });
      }
      const missing = Math.max(0, lostBefore - candidate.end);
      const dial = why === 'switchover' ? 'lossless' : (this.options.mountDial ?? 'good');
      if (missing > mountDialBytesMax[dial]) {
        throw new Error(`${candidate.name} lacks ${missing} bytes of acknowledged log; the ${dial} mount dial allows ${mountDialBytesMax[dial]}: not mounting`);
      }
      await this.promote(candidate, group);
      if (candidate.state !== 'Mounted') throw new Error(`${candidate.name} did not mount: ${candidate.error ?? candidate.state}`);
      group.publisher = publisher;
      group.active = candidate;
      // Batches fetched from the failed copy's files never went through the transport: ship
      // them now, from where the ACTIVATION marker stands.
      group.shippedEnd = activationEnd;
      group.safeEnd = activationEnd;
      if (candidate.end > activationEnd) void this.ship(group, candidate.end, candidate.end, null).catch(() => {});
      group.router.setTarget(candidate.client);
      group.activeServer = candidate.spec.server;
      group.activeMissingSinceMs = null;
      group.releasedBy = null;
      writeGeneration(group.generationFile, group.generation, { server: candidate.spec.server, copy: candidate.spec.copy });
      if (this.transport instanceof EmbeddedTransport) this.transport.kick(group.name);
      await this.transport.coordinator?.recordActivation({ database: group.name, generation, server: candidate.spec.server, copy: candidate.spec.copy }).catch((error: Error) => {
        this.say(`${group.name}: recording the activation in the control topic failed: ${error.message}`);
      });
      this.say(`${group.name}: ${why} to ${candidate.name} at generation ${generation}, log ${candidate.end}, ${missing} bytes lost, ${Math.round(performance.now() - started)} ms`);
    } catch (error) {
      await publisher.close();
      throw error;
    }
  }

  /**
   * The failed active copy is on this machine: its log may hold batches no transport carried
   * (async mode, or a crash between fsync and publish). Read them from its files, as Exchange
   * copies the last logs from a failed server, and hand them to the copy being activated.
   */
  private async fetchLastLogs(group: DatabaseGroup, failed: Copy, candidate: Copy, generation: number): Promise<void> {
    const child = failed.child;
    if (child !== null && child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve));
    const fetched = await this.appendLastLogs(group, candidate, generation, failed.spec.server, failed.spec.copy, readLogTail(failed.spec.dir, candidate.end), `the last logs of ${failed.name}`);
    if (fetched > 0) this.say(`${group.name}: fetched ${fetched} bytes of log from ${failed.name}'s files`);
  }

  /**
   * The failed active copy is on another server: ask that server (options.fetchLastLogs, bounded
   * there by a short timeout) for what its log holds past the chosen copy's end. A dead server
   * does not answer and the activation goes on with what the transport held (the mount dial
   * applies, and the old copy's tail is cut back as divergent when it returns).
   */
  private async fetchRemoteLastLogs(group: DatabaseGroup, server: string, candidate: Copy, generation: number): Promise<void> {
    const fetch = this.options.fetchLastLogs;
    if (fetch === undefined) return;
    const started = performance.now();
    const from = candidate.end;
    const fetched = await this.appendLastLogs(group, candidate, generation, server, 0, fetch(server, { database: group.name, from, generation, server: this.server }), `the last logs of ${group.name} from ${server}`);
    this.say(`${group.name}: fetched ${fetched} bytes of log past ${from} from ${server} in ${Math.round(performance.now() - started)} ms`);
  }

  /** Appends fetched batches to the copy being activated, each verified at its position; answers the bytes appended. */
  private async appendLastLogs(group: DatabaseGroup, candidate: Copy, generation: number, server: string, copy: number, batches: AsyncIterable<LogBatch>, what: string): Promise<number> {
    let fetched = 0;
    try {
      for await (const batch of batches) {
        await this.receive(candidate, batchEnvelope(group.name, generation, server, copy, batch.start, batch.bytes));
        fetched += batch.bytes.length;
      }
    } catch (error) {
      this.say(`${group.name}: could not fetch ${what}: ${(error as Error).message}${fetched > 0 ? ` (after ${fetched} bytes)` : ''}`);
    }
    return fetched;
  }

  /**
   * A passive copy whose log went its own way past `position` (an old active's tail after a
   * lossy failover): stop its worker, save and cut the tail (engine/replication/divergence.ts),
   * reopen it at the common point (its state rebuilt from the log), let it catch up from the
   * active copy, and hand the report of what was cut to the server (safety net resubmission).
   */
  private async cutBackDivergent(copy: Copy, position: number, why: string): Promise<void> {
    if (copy.state === 'Resynchronizing') return;
    const subscription = copy.subscription;
    copy.subscription = null;
    copy.state = 'Resynchronizing';
    copy.error = null;
    this.say(`${copy.name}: ${why}; cutting its log back to ${position}`);
    let tail: DivergentTail | null;
    try {
      await subscription?.close();
      await this.stopWorker(copy);
      copy.retiring = false;
      tail = await cutBackLog(copy.spec.database, copy.name, copy.spec.dir, position, this.group(copy.spec.database).durability === 'async');
    } catch (error) {
      copy.state = copy.suspended ? 'FailedAndSuspended' : 'Failed';
      copy.error = `divergent log at ${position}, not cut back: ${(error as Error).message}; ${reseedHint(copy)}`;
      this.say(`${copy.name}: ${copy.error}`);
      return;
    }
    copy.divergentAfter = null;
    rmSync(join(copy.spec.dir, divergentAfterFile), { force: true });
    if (tail !== null) this.say(describeTail(tail));
    if (tail !== null && !tail.cut) {
      copy.state = 'Failed';
      copy.error = `divergent log at ${position}: its log no longer starts at 0, so it cannot be cut back and rebuilt; ${reseedHint(copy)}`;
    } else if (!this.stopping) {
      await this.spawn(copy);
    }
    if (tail === null) return;
    if (copy.child !== null && copy.state !== 'Failed') await this.nameFolders(copy, tail);
    try {
      await this.options.onDivergentTail?.(tail);
    } catch (error) {
      this.say(`${copy.name}: handling the divergent tail failed: ${(error as Error).message}`);
    }
  }

  /** Fills in the folder names of the lost appends from the copy's state at the common point. */
  private async nameFolders(copy: Copy, tail: DivergentTail): Promise<void> {
    const byMailbox = new Map<string, Map<number, string>>();
    for (const lost of tail.appends) {
      if (lost.folder !== null) continue;
      let names = byMailbox.get(lost.mailboxId);
      if (names === undefined) {
        names = new Map();
        const folders = await copy.client.folders(lost.mailboxId);
        if (folders.ok) for (const f of folders.value) names.set(f.folderId, f.name);
        byMailbox.set(lost.mailboxId, names);
      }
      lost.folder = names.get(lost.folderId) ?? `folder #${lost.folderId}`;
    }
  }

  /**
   * The chosen passive copy becomes active in its running worker: its state is current to its
   * log end, so there is no new process, no reopen and no replay (most of what an activation
   * used to cost). A worker that cannot be promoted is restarted as active instead.
   */
  private async promote(copy: Copy, group: DatabaseGroup): Promise<void> {
    const subscription = copy.subscription;
    copy.subscription = null;
    await subscription?.close();
    try {
      const status = (await copy.client.call('promote', { shipAck: group.durability === 'sync' })) as WorkerStatus;
      copy.role = 'active';
      copy.status = status;
      copy.state = 'Mounted';
      copy.error = null;
      copy.failedStarts = 0;
      copy.fenced = false;
      group.headPosition = Math.max(group.headPosition, copy.end);
      this.say(`${copy.name} promoted in place (pid ${status.pid}, log at ${copy.end})`);
    } catch (error) {
      this.say(`${copy.name}: promotion in place failed (${(error as Error).message}); restarting it as active`);
      await this.remount(copy, 'active');
    }
  }

  /** Stops a copy's worker cleanly and starts it again in `role`. */
  private async remount(copy: Copy, role: Role): Promise<void> {
    const subscription = copy.subscription;
    copy.subscription = null;
    await subscription?.close();
    await this.stopWorker(copy);
    copy.role = role;
    copy.fenced = false;
    copy.retiring = false;
    await this.spawn(copy);
  }

  private async stopWorker(copy: Copy): Promise<void> {
    const child = copy.child;
    if (child === null) return;
    copy.retiring = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // When the exit wins the race, the close call is still rejected later (the worker is gone):
    // that rejection is expected, so it is handled here rather than left unhandled.
    const closing = copy.client.call('close', {}).catch(() => undefined);
    await Promise.race([closing, exited]);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Planned, lossless: hold new calls, let the target copy receive everything, then swap roles. */
  async switchover(database: string, toServer: string, toCopy?: number): Promise<void> {
    const group = this.group(database);
    const old = group.active;
    if (old === null) throw new Error(`${database} has no active copy on this server`);
    const target = this.copy(database, toServer, toCopy === undefined ? this.copies.find((c) => c.spec.database === database && c.spec.server === toServer && c.role === 'passive')?.spec.copy : toCopy);
    if (target === old) throw new Error(`${target.name} is already active`);
    if (target.role !== 'passive' || target.state !== 'Healthy') throw new Error(`${target.name} is ${target.state}, not a healthy passive copy`);
    if (group.activating) throw new Error(`${database}: an activation is already in progress`);
    group.activating = true;
    try {
      await group.router.hold();
      await group.pump;
      await Promise.allSettled([...group.publishing]);
      const end = old.end;
      await withTimeout(until(() => target.end >= end || target.state !== 'Healthy'), catchUpWaitMsMax, `${target.name} catching up to ${end}`);
      if (target.end < end) throw new Error(`${target.name} stopped at ${target.end} of ${end}: ${target.error ?? target.state}`);
      await this.stopWorker(old);
      old.role = 'passive';
      old.retiring = false;
      try {
        await this.activate(group, target, 'switchover');
      } catch (error) {
        // Put the old active back: nothing was lost, and its log is the newest.
        old.role = 'active';
        await this.spawn(old);
        await this.openShipping(group, old);
        throw error;
      }
      await this.spawn(old);
    } finally {
      group.activating = false;
      group.router.release();
    }
  }

  /**
   * Reseeds a passive copy from a snapshot of the active copy: the copy's worker stops (Seeding),
   * the active copy's worker takes a consistent snapshot (its state store at a batch boundary plus
   * the log tail from there, MailboxDatabase.snapshot; writes are held for the pause only), the
   * files are copied into `<copy dir>.seeding`, every chunk read back from the disk and compared
   * with the snapshot's (engine/replication/seed.ts), the folder is swapped in, and the copy
   * reopens: it replays the short tail past the snapshot's checkpoint, then catches up by
   * shipping. The active copy is under this supervisor, or on another server (Kafka: the
   * snapshot is taken there and its files read over the peer API, `fetchSnapshot`). Works
   * whatever the active copy truncated. An interrupted reseed (the server stopped) goes on from
   * the files already copied and verified; a second request while one runs waits for it.
   * Resolves when the copy is open again.
   */
  reseed(database: string, server: string, copyNumber?: number, options: { bytesPerSecondMax?: number } = {}): Promise<void> {
    // A copy on another server is seeded by that server (from wherever the active copy is).
    if (!this.copies.some((c) => c.spec.database === database && c.spec.server === server)) {
      return Promise.reject(new Error(`no copy of ${database} on ${server} here: a copy is reseeded by its own server (run quire db reseed against ${server})`));
    }
    const copy = this.copy(database, server, copyNumber ?? this.passiveCopyNumber(database, server));
    if (copy.seeding !== null) return copy.seeding;
    const run = this.runReseed(copy, options).finally(() => (copy.seeding = null));
    copy.seeding = run;
    return run;
  }

  /**
   * Where a reseed of `copy` takes its snapshot: the active copy under this supervisor, or the
   * server holding it (waited for a bounded time, as a client is, when it is restarting or not
   * known yet). `take` takes the snapshot; `done` removes it.
   */
  private async reseedOrigin(group: DatabaseGroup, copy: Copy): Promise<{ from: string; take(): Promise<{ info: SnapshotInfo; source: string; files: string | SnapshotSource }>; done(): Promise<void> }> {
    const fetchSnapshot = this.options.fetchSnapshot;
    const remote = (): string | null => {
      const server = group.activeServer;
      return group.active === null && fetchSnapshot !== undefined && server !== null && server !== this.server && this.peer(server) !== undefined ? server : null;
    };
    const waitUntil = Date.now() + reseedActiveWaitMs;
    while ((group.active === null || group.active.state !== 'Mounted') && remote() === null && Date.now() < waitUntil && !this.stopping) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const server = remote();
    if (server !== null && fetchSnapshot !== undefined) {
      let taken: PeerSnapshot | null = null;
      return {
        from: server,
        take: async () => {
          await taken?.release().catch(() => {});
          taken = await fetchSnapshot(server, { database: group.name, server: copy.spec.server, copy: copy.spec.copy });
          return { info: taken.info, source: taken.source, files: taken.files };
        },
        done: async () => {
          await taken?.release().catch((error: Error) => this.say(`${copy.name}: could not tell ${server} to remove its snapshot: ${error.message}`));
        },
      };
    }
    const source = group.active;
    if (source === null || source.state !== 'Mounted') {
      throw new Error(`${group.name} has no mounted active copy on this server${group.activeServer !== null && group.activeServer !== this.server ? ` and ${group.activeServer} (where it is active) cannot be asked` : ''} to seed from`);
    }
    // One folder per copy seeded, so two reseeds from the same active copy do not meet.
    const snapshotDir = `${source.spec.dir}.snapshot-${copy.spec.server}-${copy.spec.copy}`;
    return {
      from: source.name,
      take: async () => {
        const taken = (await source.client.call('snapshot', { dir: snapshotDir })) as Result<SnapshotInfo>;
        if (!taken.ok) throw new Error(taken.message);
        return { info: taken.value, source: source.name, files: snapshotDir };
      },
      // The snapshot's links would keep the active copy's truncated segments on disk.
      done: () => rm(snapshotDir, { recursive: true, force: true }).catch(() => {}),
    };
  }

  /**
   * A snapshot of this server's active copy for a copy on another server to be seeded from
   * (server/peers.ts serves its files): in `<active dir>.snapshot-<server>-<copy>`, replacing an
   * earlier one for the same copy. The caller removes it when done.
   */
  async snapshotForPeer(request: SnapshotRequest): Promise<{ dir: string; source: string; info: SnapshotInfo }> {
    const group = this.group(request.database);
    const active = group.active;
    if (active === null || active.state !== 'Mounted') throw new Error(`${group.name} has no mounted active copy on ${this.server}`);
    if (request.server === this.server) throw new Error(`${group.name}: a request from this server itself`);
    const dir = `${active.spec.dir}.snapshot-${request.server}-${request.copy}`;
    const taken = (await active.client.call('snapshot', { dir })) as Result<SnapshotInfo>;
    if (!taken.ok) throw new Error(taken.message);
    const info = taken.value;
    this.say(
      `${active.name}: a snapshot for ${request.server}#${request.copy} to seed from: ${info.files.length} files, ${info.files.reduce((sum, f) => sum + f.bytes, 0)} bytes, log ${info.logStartPosition}..${info.logEndPosition}; writes held ${info.pauseMs.toFixed(1)} ms`,
    );
    return { dir, source: active.name, info };
  }

  private async runReseed(copy: Copy, options: { bytesPerSecondMax?: number }): Promise<void> {
    const group = this.group(copy.spec.database);
    if (copy.role !== 'passive') throw new Error(`${copy.name} is active; switch over first`);
    const origin = await this.reseedOrigin(group, copy);
    // The copy stops first: with Kafka, its consumer's committed offset must not pass the snapshot's end.
    const seed = { bytesCopied: 0, bytesTotal: 0, startedAtMs: Date.now(), bytesAtStart: 0, holdAt: 0 };
    copy.seed = seed;
    const subscription = copy.subscription;
    copy.subscription = null;
    await subscription?.close();
    await this.stopWorker(copy);
    copy.status = null;
    copy.state = 'Seeding';
    copy.error = null;
    copy.unreplayed.length = 0;
    copy.replayedAt.length = 0;
    const staging = `${copy.spec.dir}.seeding`;
    try {
      const { info: snapshot, source, files } = await origin.take();
      seed.holdAt = snapshot.logEndPosition;
      seed.bytesTotal = snapshot.files.reduce((sum, f) => sum + f.bytes, 0);
      this.say(
        `${copy.name}: seeding from a snapshot of ${source}${origin.from === source ? '' : ` on ${origin.from}`}: ${snapshot.files.length} files, ${seed.bytesTotal} bytes, log ${snapshot.logStartPosition}..${snapshot.logEndPosition}; writes held ${snapshot.pauseMs.toFixed(1)} ms`,
      );
      const result = await copySnapshot(files, staging, snapshot.files, {
        source,
        ...(options.bytesPerSecondMax === undefined ? {} : { bytesPerSecondMax: options.bytesPerSecondMax }),
        onProgress: (done, copied) => {
          seed.bytesCopied = done;
          seed.bytesAtStart = done - copied;
        },
      });
      await rm(join(staging, seedProgressName), { force: true });
      await rm(copy.spec.dir, { recursive: true, force: true });
      await rename(staging, copy.spec.dir);
      // A copy seeded afresh has no divergent past to cut back.
      copy.divergentAfter = null;
      this.say(
        `${copy.name}: seeded ${result.bytesTotal} bytes (${result.bytesCopied} copied, ${result.bytesReused} kept from an interrupted reseed, all verified) in ${Math.round(result.ms)} ms; reopening`,
      );
    } catch (error) {
      copy.seed = null;
      copy.state = 'Failed';
      copy.error = `reseed failed: ${(error as Error).message}`;
      this.say(`${copy.name}: ${copy.error}`);
      throw error;
    } finally {
      await origin.done();
    }
    copy.seed = null;
    copy.suspended = false;
    copy.retiring = false;
    copy.fenced = false;
    await this.spawn(copy);
  }

  /** Stops shipping to a passive copy (it holds its place; resume catches it up). */
  async suspend(database: string, server: string, copyNumber?: number): Promise<void> {
    const copy = this.copy(database, server, copyNumber ?? this.copies.find((c) => c.spec.database === database && c.spec.server === server && c.role === 'passive')?.spec.copy);
    if (copy.role !== 'passive') throw new Error(`${copy.name} is active; only a passive copy can be suspended`);
    copy.suspended = true;
    copy.state = copy.state === 'Failed' ? 'FailedAndSuspended' : 'Suspended';
    const subscription = copy.subscription;
    copy.subscription = null;
    await subscription?.close();
  }

  async resume(database: string, server: string, copyNumber?: number): Promise<void> {
    const copy = this.copy(database, server, copyNumber ?? this.copies.find((c) => c.spec.database === database && c.spec.server === server && c.role === 'passive')?.spec.copy);
    if (copy.role !== 'passive') throw new Error(`${copy.name} is active; only a passive copy can be resumed`);
    copy.suspended = false;
    copy.error = null;
    if (copy.child === null) {
      await this.spawn(copy);
      return;
    }
    await this.subscribe(copy);
  }

  /** Every copy with fresh numbers from its worker. */
  async list(): Promise<CopyStatus[]> {
    const now = performance.now();
    return Promise.all(
      this.copies.map(async (copy) => {
        if (copy.child !== null && copy.state !== 'Initializing') {
          try {
            this.noteStatus(copy, (await withTimeout(copy.client.call('status', {}), statusWaitMsMax, `${copy.name} status`)) as WorkerStatus);
          } catch {
            // keep the last known numbers (a hung worker must not hang the listing)
          }
        }
        const group = this.group(copy.spec.database);
        const own = copy.end;
        const checkpoint = copy.status?.checkpointPosition ?? 0;
        const replayed = copy.replayed;
        const passive = copy.role === 'passive';
        const head = Math.max(group.headPosition, group.active?.end ?? 0);
        const behind = passive ? group.recent.find((b) => b.end > replayed) : undefined;
        const arrived = copy.lagged ? copy.unreplayed[0] : undefined;
        const seed = copy.seed;
        const seedMs = seed === null ? 0 : Date.now() - seed.startedAtMs;
        return {
          database: copy.spec.database,
          server: copy.spec.server,
          copy: copy.spec.copy,
          role: copy.lagged ? ('lagged' as const) : copy.role,
          state: copy.state,
          pid: copy.child?.pid ?? null,
          restarts: copy.restarts,
          lastLogPosition: own,
          checkpointPosition: checkpoint,
          copyQueueLength: passive ? Math.max(0, head - own) : 0,
          replayQueueLength: passive ? Math.max(0, own - replayed) : 0,
          lastInspectedPosition: own,
          lastReplayedPosition: replayed,
          // Lagged: how long ago the oldest unreplayed batch arrived; else since it was durable on the active.
          replayLagMs: arrived !== undefined ? Math.max(0, Date.now() - arrived.atMs) : behind === undefined ? 0 : Math.round(now - behind.atMs),
          activationGeneration: Math.max(group.generation, copy.generationSeen),
          activationPreference: copy.preference,
          durability: group.durability,
          transport: this.transport.kind,
          contentIndexState: copy.status?.searchIndex?.state ?? ('NotApplicable' as const),
          contentIndexDocuments: copy.status?.searchIndex?.documents ?? null,
          contentIndexDocumentsTotal: copy.status?.searchIndex?.documentsTotal ?? null,
          contentIndexBacklog: copy.status?.searchIndex?.backlogDocuments ?? null,
          contentIndexLagMs: copy.status?.searchIndex?.lagMs ?? null,
          logStartPosition: copy.status?.logStartPosition ?? 0,
          seedBytesCopied: seed?.bytesCopied ?? null,
          seedBytesTotal: seed?.bytesTotal ?? null,
          seedBytesPerSecond: seed === null ? null : seedMs <= 0 ? 0 : Math.round(((seed.bytesCopied - seed.bytesAtStart) * 1000) / seedMs),
          replayLagTimeMs: copy.lag.replayLagMs,
          truncationLagTimeMs: copy.lag.truncationLagMs,
          diskFreeBytes: copy.status?.diskFreeBytes ?? null,
          lowDisk: copy.status?.lowDisk ?? false,
          error: copy.error,
        };
      }),
    );
  }

  /** Clean shutdown: every worker closes its database (Clean Shutdown in its header). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.truncationTimer !== null) clearTimeout(this.truncationTimer);
    if (this.lagTimer !== null) clearInterval(this.lagTimer);
    // A broker that stops answering (a kafkajs disconnect during a rebalance can wait forever)
    // must not keep the server from stopping: every wait on Kafka is bounded, and the workers,
    // whose clean shutdown is what matters, are always stopped.
    const step = (promise: Promise<unknown>, what: string): Promise<unknown> =>
      withTimeout(promise, stopStepMsMax, what).catch((error: Error) => this.say(`stop: ${error.message} after ${stopStepMsMax} ms; going on`));
    await step(Promise.resolve(this.transport.coordinator?.leave()), "leaving the servers' group");
    for (const group of this.groups.values()) {
      await step(Promise.allSettled([group.pump, ...group.publishing]), `${group.name} shipping its last batches`);
    }
    await step(Promise.all(this.copies.map((copy) => copy.subscription?.close())), 'closing subscriptions');
    await Promise.all(this.copies.map((copy) => this.stopWorker(copy)));
    await step(Promise.all([...this.groups.values()].map((group) => group.publisher?.close())), 'closing publishers');
    await step(this.transport.close(), 'closing the transport');
  }
}

/** In a copy's folder: the log end another copy was activated at while this one was the failed active. */
const divergentAfterFile = 'divergent-after.json';

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
}

function readGeneration(path: string): number {
  const generation = readJson<{ generation?: unknown }>(path)?.generation;
  return typeof generation === 'number' ? generation : 0;
}

function readLags(path: string): Record<string, CopyLag> {
  return readJson<Record<string, CopyLag>>(path) ?? {};
}

/** activation.json: the latest generation, and which copy of this server it activated (kept across generation bumps). */
interface ActivationRecord {
  readonly generation: number;
  readonly server?: string;
  readonly copy?: number;
}

function writeGeneration(path: string, generation: number, active?: { server: string; copy: number }): void {
  const known = readJson<ActivationRecord>(path);
  const who = active ?? (known?.server === undefined ? undefined : { server: known.server, copy: known.copy! });
  writeJson(path, { generation, ...(who === undefined ? {} : who) });
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The embedded default: each database with an active and one passive copy on this server. */
export function embeddedCopies(dataDir: string, server: string, databases: readonly string[]): CopySpec[] {
  return databases.flatMap((database) => [
    { database, server, copy: 1, role: 'active' as const, dir: join(dataDir, 'databases', database, `${server}-1`) },
    { database, server, copy: 2, role: 'passive' as const, dir: join(dataDir, 'databases', database, `${server}-2`) },
  ]);
}
