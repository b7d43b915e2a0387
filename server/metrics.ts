// The server's Prometheus series (served on 8080 at /metrics) and the short history the admin
// web page draws. Front ends report through the FrontEndMetrics hooks (sessions, commands,
// auth failures, deliveries); commits are timed where the front ends call the mailbox API (so
// the latency is what a client waits for: IPC plus group commit plus fsync); the database
// numbers (log bytes, batches, checkpoint depth, copy and replay queues, replay lag) are read
// from the supervisor and the workers when scraped or sampled, never pushed.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MailboxApi } from '../engine/api.js';
import type { CopyStatus } from '../engine/supervisor.js';
import type { FrontEndMetrics, Protocol } from '../protocols/frontend.js';

/** What the metrics read about the databases: the supervisor's copy list and one worker's own counters. */
export interface DatabaseSource {
  list(): Promise<CopyStatus[]>;
  /** The worker's log counters (batches, log bytes written); null when the worker cannot answer. */
  workerStats(copy: CopyStatus): Promise<{ batches: number; logBytes: number } | null>;
}

/** Command names kept as label values per protocol; further names count as 'OTHER' (bounded cardinality). */
export const commandNamesMax = 64;
/** Samples kept for the admin page's chart. */
export const historySamplesMax = 120;
export const sampleIntervalMsDefault = 5_000;

/** One point of the admin page's chart. */
export interface HistorySample {
  readonly atMs: number;
  /** Recipients delivered per second since the previous sample. */
  readonly deliveriesPerSecond: number;
  /** Commits per second since the previous sample, per database. */
  readonly commitsPerSecond: Record<string, number>;
  /** Mean commit latency since the previous sample (ms), per database; null when no commit. */
  readonly commitLatencyMsMean: Record<string, number | null>;
  /** Log bytes per second of the active copy, per database. */
  readonly logBytesPerSecond: Record<string, number>;
}

const latencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

/** Active copies first, then the rest: the copy whose log a database's numbers come from. */
function activeCopies(copies: readonly CopyStatus[]): Map<string, CopyStatus> {
  const out = new Map<string, CopyStatus>();
  for (const copy of copies) if (copy.role === 'active' && !out.has(copy.database)) out.set(copy.database, copy);
  return out;
}

/**
 * Databases that should be mounted here and are not: a database with an active copy on this
 * server and none of its active copies Mounted. A database whose copies here are all passive is
 * active elsewhere (Kafka mode), and a passive copy's trouble shows in `degraded`, not here.
 */
export function healthOf(copies: readonly CopyStatus[]): { unhealthy: string[]; degraded: string[] } {
  const unhealthy = new Set<string>();
  const mounted = new Set<string>();
  for (const copy of copies) {
    if (copy.role !== 'active') continue;
    if (copy.state === 'Mounted') mounted.add(copy.database);
    else unhealthy.add(copy.database);
  }
  for (const database of mounted) unhealthy.delete(database);
  const degraded = copies
    .filter((c) => c.role !== 'active' && (c.state === 'Failed' || c.state === 'Dismounted'))
    .map((c) => `${c.database}\\${c.server}#${c.copy}`);
  return { unhealthy: [...unhealthy].sort(), degraded };
}

export class ServerMetrics implements FrontEndMetrics {
  readonly registry = new Registry();
  private readonly sessions: Gauge;
  private readonly sessionsTotal: Counter;
  private readonly commands: Counter;
  private readonly commandSeconds: Histogram;
  private readonly errors: Counter;
  private readonly authFailures: Counter;
  private readonly deliveries: Counter;
  private readonly bounces: Counter;
  private readonly commitSeconds: Histogram;
  private readonly commits: Counter;
  private readonly logBytes: Counter;
  private readonly logBytesRate: Gauge;
  private readonly batches: Counter;
  private readonly batchBytes: Gauge;
  private readonly batchCommits: Gauge;
  private readonly position: Gauge;
  private readonly checkpointDepth: Gauge;
  private readonly copyQueue: Gauge;
  private readonly replayQueue: Gauge;
  private readonly replayLag: Gauge;
  private readonly copyInfo: Gauge;
  private readonly up: Gauge;
  private readonly names = new Map<Protocol, Set<string>>();
  // Running totals the sampler turns into rates.
  private deliveredCount = 0;
  private readonly commitCount = new Map<string, number>();
  private readonly commitMsSum = new Map<string, number>();
  /** Last seen active log end per database (the log_bytes counter advances by the difference). */
  private readonly lastEnd = new Map<string, number>();
  /** Last seen worker counters per copy (a restarted worker starts again from 0). */
  private readonly lastWorker = new Map<string, { batches: number; logBytes: number }>();
  private previous: { atMs: number; delivered: number; commits: Map<string, number>; commitMs: Map<string, number>; ends: Map<string, number>; batches: Map<string, number>; bytes: Map<string, number> } | null = null;
  private readonly samples: HistorySample[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly source: DatabaseSource, private readonly nowMs: () => number = Date.now) {
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'quire_' });
    this.sessions = new Gauge({ name: 'quire_protocol_sessions', help: 'Open sessions per protocol', labelNames: ['protocol'], registers: r });
    this.sessionsTotal = new Counter({ name: 'quire_protocol_sessions_total', help: 'Sessions opened per protocol', labelNames: ['protocol'], registers: r });
    this.commands = new Counter({ name: 'quire_protocol_commands_total', help: 'Commands per protocol, command and outcome', labelNames: ['protocol', 'command', 'outcome'], registers: r });
    this.commandSeconds = new Histogram({ name: 'quire_protocol_command_duration_seconds', help: 'Command duration per protocol', labelNames: ['protocol'], buckets: latencyBuckets, registers: r });
    this.errors = new Counter({ name: 'quire_protocol_errors_total', help: 'Commands answered NO or BAD (or the protocol equivalent)', labelNames: ['protocol'], registers: r });
    this.authFailures = new Counter({ name: 'quire_auth_failures_total', help: 'Failed logins per protocol', labelNames: ['protocol'], registers: r });
    this.deliveries = new Counter({ name: 'quire_deliveries_total', help: 'Recipients per delivery outcome', labelNames: ['outcome'], registers: r });
    this.bounces = new Counter({ name: 'quire_bounces_total', help: 'Delivery status notifications sent (recipients)', registers: r });
    this.commitSeconds = new Histogram({ name: 'quire_database_commit_duration_seconds', help: 'Mailbox API commit latency as front ends see it (IPC, group commit, fsync)', labelNames: ['database'], buckets: latencyBuckets, registers: r });
    this.commits = new Counter({ name: 'quire_database_commits_total', help: 'Commits per database and outcome', labelNames: ['database', 'outcome'], registers: r });
    this.logBytes = new Counter({ name: 'quire_database_log_bytes_total', help: "Bytes appended to the database's log (the active copy's log end)", labelNames: ['database'], registers: r });
    this.logBytesRate = new Gauge({ name: 'quire_database_log_bytes_per_second', help: 'Log bytes per second over the last sample interval', labelNames: ['database'], registers: r });
    this.batches = new Counter({ name: 'quire_database_batches_total', help: 'Log batches written (one write + one fsync each) per copy', labelNames: ['database', 'server', 'copy'], registers: r });
    this.batchBytes = new Gauge({ name: 'quire_database_batch_bytes_mean', help: 'Mean batch size in bytes over the last sample interval (active copy)', labelNames: ['database'], registers: r });
    this.batchCommits = new Gauge({ name: 'quire_database_batch_commits_mean', help: 'Mean commits per batch over the last sample interval', labelNames: ['database'], registers: r });
    const copyLabels = ['database', 'server', 'copy'];
    this.position = new Gauge({ name: 'quire_database_log_position_bytes', help: "End of the copy's log", labelNames: copyLabels, registers: r });
    this.checkpointDepth = new Gauge({ name: 'quire_database_checkpoint_depth_bytes', help: 'Log bytes after the checkpoint (replayed again after a crash)', labelNames: copyLabels, registers: r });
    this.copyQueue = new Gauge({ name: 'quire_database_copy_queue_bytes', help: 'Log bytes the active copy has that this copy has not received', labelNames: copyLabels, registers: r });
    this.replayQueue = new Gauge({ name: 'quire_database_replay_queue_bytes', help: 'Log bytes received and not replayed yet', labelNames: copyLabels, registers: r });
    this.replayLag = new Gauge({ name: 'quire_database_replay_lag_seconds', help: 'Age of the oldest batch this copy has not replayed', labelNames: copyLabels, registers: r });
    this.copyInfo = new Gauge({ name: 'quire_database_copy_info', help: "1 for each copy, with its role and state as labels", labelNames: [...copyLabels, 'role', 'state'], registers: r });
    this.up = new Gauge({ name: 'quire_database_mounted', help: '1 when the database has a mounted active copy on this server', labelNames: ['database'], registers: r });
  }

  // ---- FrontEndMetrics ----
  sessionOpened(protocol: Protocol): void {
    this.sessions.inc({ protocol });
    this.sessionsTotal.inc({ protocol });
  }
  sessionClosed(protocol: Protocol): void {
    this.sessions.dec({ protocol });
  }
  command(protocol: Protocol, name: string, outcome: 'ok' | 'no' | 'bad', durationMs: number): void {
    this.commands.inc({ protocol, command: this.commandLabel(protocol, name), outcome });
    this.commandSeconds.observe({ protocol }, Math.max(0, durationMs) / 1000);
    if (outcome !== 'ok') this.errors.inc({ protocol });
  }
  authFailure(protocol: Protocol): void {
    this.authFailures.inc({ protocol });
  }
  delivery(outcome: 'delivered' | 'deferred' | 'rejected' | 'bounced', recipients: number): void {
    if (!(recipients > 0)) return;
    this.deliveries.inc({ outcome }, recipients);
    if (outcome === 'bounced') this.bounces.inc(recipients);
    if (outcome === 'delivered') this.deliveredCount += recipients;
  }

  /** A command name as a label: upper-cased, cut to a safe alphabet, at most commandNamesMax per protocol. */
  private commandLabel(protocol: Protocol, name: string): string {
    const clean = name.replace(/[^A-Za-z0-9/_.-]/g, '').slice(0, 40).toUpperCase() || 'OTHER';
    let seen = this.names.get(protocol);
    if (seen === undefined) this.names.set(protocol, (seen = new Set()));
    if (seen.has(clean)) return clean;
    if (seen.size >= commandNamesMax) return 'OTHER';
    seen.add(clean);
    return clean;
  }

  /** The same mailbox API with every commit timed and counted under `database` (each request of a commitMany as one commit). */
  timed(database: string, api: MailboxApi): MailboxApi {
    const metrics = this;
    const counted = (started: number, outcomes: readonly string[]): void => {
      const ms = performance.now() - started;
      for (const outcome of outcomes) {
        metrics.commitSeconds.observe({ database }, ms / 1000);
        metrics.commits.inc({ database, outcome });
      }
      metrics.commitCount.set(database, (metrics.commitCount.get(database) ?? 0) + outcomes.length);
      metrics.commitMsSum.set(database, (metrics.commitMsSum.get(database) ?? 0) + ms * outcomes.length);
    };
    const outcomeOf = (result: Awaited<ReturnType<MailboxApi['commit']>>): string => (result.ok ? 'ok' : result.code);
    return new Proxy(api, {
      get(target, property, receiver) {
        if (property === 'commit') {
          return async (request: Parameters<MailboxApi['commit']>[0]) => {
            const started = performance.now();
            let outcomes = ['error'];
            try {
              const result = await target.commit(request);
              outcomes = [outcomeOf(result)];
              return result;
            } finally {
              counted(started, outcomes);
            }
          };
        }
        if (property === 'commitMany') {
          return async (requests: Parameters<MailboxApi['commitMany']>[0]) => {
            const started = performance.now();
            let outcomes = requests.map(() => 'error');
            try {
              const results = await target.commitMany(requests);
              outcomes = results.map(outcomeOf);
              return results;
            } finally {
              counted(started, outcomes);
            }
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
  }

  /** Reads the supervisor and the workers into the database series; returns the copies read. */
  async refresh(): Promise<CopyStatus[]> {
    const copies = await this.source.list();
    for (const g of [this.position, this.checkpointDepth, this.copyQueue, this.replayQueue, this.replayLag, this.copyInfo, this.up]) g.reset();
    const health = healthOf(copies);
    for (const database of new Set(copies.map((c) => c.database))) this.up.set({ database }, health.unhealthy.includes(database) ? 0 : 1);
    for (const copy of copies) {
      const labels = { database: copy.database, server: copy.server, copy: String(copy.copy) };
      this.position.set(labels, copy.lastLogPosition);
      this.checkpointDepth.set(labels, Math.max(0, copy.lastLogPosition - copy.checkpointPosition));
      this.copyQueue.set(labels, copy.copyQueueLength);
      this.replayQueue.set(labels, copy.replayQueueLength);
      this.replayLag.set(labels, copy.replayLagMs / 1000);
      this.copyInfo.set({ ...labels, role: copy.role, state: copy.state }, 1);
      const stats = copy.pid === null ? null : await this.source.workerStats(copy);
      if (stats !== null) {
        const key = `${copy.database}\\${copy.server}#${copy.copy}`;
        const last = this.lastWorker.get(key);
        const delta = last === undefined || stats.batches < last.batches ? stats.batches : stats.batches - last.batches;
        if (delta > 0) this.batches.inc(labels, delta);
        this.lastWorker.set(key, stats);
      }
    }
    for (const [database, active] of activeCopies(copies)) {
      const last = this.lastEnd.get(database);
      // The first look only sets the baseline: bytes written before this server started are not this server's rate.
      if (last !== undefined && active.lastLogPosition > last) this.logBytes.inc({ database }, active.lastLogPosition - last);
      if (last === undefined) this.logBytes.inc({ database }, 0);
      this.lastEnd.set(database, Math.max(last ?? 0, active.lastLogPosition));
    }
    return copies;
  }

  /** Takes one history sample (rates since the previous one) and sets the rate gauges. */
  async sample(): Promise<HistorySample | null> {
    const copies = await this.refresh();
    const atMs = this.nowMs();
    const active = activeCopies(copies);
    const batches = new Map<string, number>();
    const bytes = new Map<string, number>();
    for (const [database, copy] of active) {
      const stats = this.lastWorker.get(`${copy.database}\\${copy.server}#${copy.copy}`);
      if (stats !== undefined) {
        batches.set(database, stats.batches);
        bytes.set(database, stats.logBytes);
      }
    }
    const now = { atMs, delivered: this.deliveredCount, commits: new Map(this.commitCount), commitMs: new Map(this.commitMsSum), ends: new Map(this.lastEnd), batches, bytes };
    const before = this.previous;
    this.previous = now;
    if (before === null) return null;
    const seconds = Math.max(0.001, (atMs - before.atMs) / 1000);
    const commitsPerSecond: Record<string, number> = {};
    const commitLatencyMsMean: Record<string, number | null> = {};
    const logBytesPerSecond: Record<string, number> = {};
    for (const database of new Set([...now.ends.keys(), ...now.commits.keys()])) {
      const commits = (now.commits.get(database) ?? 0) - (before.commits.get(database) ?? 0);
      const commitMs = (now.commitMs.get(database) ?? 0) - (before.commitMs.get(database) ?? 0);
      commitsPerSecond[database] = commits / seconds;
      commitLatencyMsMean[database] = commits > 0 ? commitMs / commits : null;
      const logBytes = Math.max(0, (now.ends.get(database) ?? 0) - (before.ends.get(database) ?? 0));
      logBytesPerSecond[database] = logBytes / seconds;
      this.logBytesRate.set({ database }, logBytesPerSecond[database]);
      const batchDelta = (now.batches.get(database) ?? 0) - (before.batches.get(database) ?? 0);
      const byteDelta = (now.bytes.get(database) ?? 0) - (before.bytes.get(database) ?? 0);
      // A worker restarted in between (counters went back) gives no mean for this interval.
      this.batchBytes.set({ database }, batchDelta > 0 && byteDelta >= 0 ? byteDelta / batchDelta : 0);
      this.batchCommits.set({ database }, batchDelta > 0 ? commits / batchDelta : 0);
    }
    const sample: HistorySample = { atMs, deliveriesPerSecond: (now.delivered - before.delivered) / seconds, commitsPerSecond, commitLatencyMsMean, logBytesPerSecond };
    this.samples.push(sample);
    if (this.samples.length > historySamplesMax) this.samples.shift();
    return sample;
  }

  history(): readonly HistorySample[] {
    return this.samples;
  }

  /** Samples every `intervalMs` until stop(); the timer never keeps the process alive. */
  startSampling(intervalMs = sampleIntervalMsDefault, onError: (error: Error) => void = () => {}): void {
    if (this.timer !== null) return;
    void this.sample().catch(onError);
    this.timer = setInterval(() => void this.sample().catch(onError), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** The Prometheus text exposition, fresh from the databases. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    await this.refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
