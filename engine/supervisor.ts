// The supervisor: starts one worker process per mounted database copy, restarts a crashed one
// (it recovers from its log on open) while the other databases go on serving, and ships each
// active copy's durable batches to its passive copies (the embedded log-shipping transport:
// the passive copy verifies the bytes, appends them to its own log and replays them).

import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Role } from './database.js';
import { WorkerClient } from './worker/client.js';
import type { Notice } from './worker/protocol.js';

export interface CopySpec {
  readonly database: string;
  readonly server: string;
  /** 1 for the first copy of a database on a server, 2 for the next ... */
  readonly copy: number;
  readonly role: Role;
  readonly dir: string;
}

export type CopyState = 'Initializing' | 'Mounted' | 'Healthy' | 'Failed' | 'Dismounted';

export interface CopyStatus {
  readonly database: string;
  readonly server: string;
  readonly copy: number;
  readonly role: Role;
  readonly state: CopyState;
  readonly pid: number | null;
  readonly restarts: number;
  readonly lastLogPosition: number;
  readonly checkpointPosition: number;
  readonly copyQueueLength: number;
  readonly replayQueueLength: number;
  readonly contentIndexState: 'NotApplicable';
  readonly error: string | null;
}

interface WorkerStatus {
  lastLogPosition: number;
  checkpointPosition: number;
  pid: number;
}

const restartDelayMsMin = 100;
const restartDelayMsMax = 5000;
const shipBytesMax = 8 * 1024 * 1024;

class Copy {
  child: ChildProcess | null = null;
  state: CopyState = 'Initializing';
  restarts = 0;
  restartDelayMs = restartDelayMsMin;
  status: WorkerStatus | null = null;
  error: string | null = null;
  shipping = false;
  readonly client: WorkerClient;
  constructor(readonly spec: CopySpec, onNotice: (copy: Copy, notice: Notice) => void) {
    this.client = new WorkerClient(spec.database, (notice) => onNotice(this, notice));
  }
}

export interface SupervisorOptions {
  readonly copies: readonly CopySpec[];
  readonly log?: (line: string) => void;
  /** Restart backoff ceiling (doubles from restartDelayMsMin up to this). */
  readonly restartDelayMsMax?: number;
}

export class Supervisor {
  private readonly copies: Copy[];
  private stopping = false;
  private readonly workerPath = fileURLToPath(new URL('./worker/main.js', import.meta.url));

  constructor(private readonly options: SupervisorOptions) {
    this.copies = options.copies.map((spec) => new Copy(spec, (copy, notice) => this.onNotice(copy, notice)));
  }

  /** Starts every copy and waits until each is mounted (or failed). */
  async start(): Promise<void> {
    await Promise.all(this.copies.map((copy) => this.spawn(copy)));
    for (const copy of this.copies) if (copy.spec.role === 'passive') void this.ship(copy);
  }

  /** The mailbox API of a database's active copy. */
  api(database: string): WorkerClient {
    const copy = this.copies.find((c) => c.spec.database === database && c.spec.role === 'active');
    if (copy === undefined) throw new Error(`no active copy of ${database}`);
    return copy.client;
  }

  databases(): string[] {
    return [...new Set(this.copies.map((c) => c.spec.database))];
  }

  private say(line: string): void {
    this.options.log?.(line);
  }

  private spawn(copy: Copy): Promise<void> {
    copy.state = 'Initializing';
    const child = fork(this.workerPath, [], {
      serialization: 'advanced',
      env: { ...process.env, QUIRE_WORKER: JSON.stringify({ name: copy.spec.database, dir: copy.spec.dir, role: copy.spec.role }) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    copy.child = child;
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
    switch (notice.notice) {
      case 'ready':
        copy.status = notice.status as WorkerStatus;
        copy.state = copy.spec.role === 'active' ? 'Mounted' : 'Healthy';
        copy.error = null;
        this.say(`${copy.spec.database}\\${copy.spec.server}#${copy.spec.copy} ${copy.state.toLowerCase()} (pid ${copy.status.pid}, log at ${copy.status.lastLogPosition})`);
        if (copy.spec.role === 'passive') void this.ship(copy);
        else for (const passive of this.passivesOf(copy.spec.database)) void this.ship(passive);
        break;
      case 'failed':
        copy.state = 'Failed';
        copy.error = notice.error;
        this.say(`${copy.spec.database}\\${copy.spec.server}#${copy.spec.copy} failed: ${notice.error}`);
        break;
      case 'batch':
        if (copy.status !== null) copy.status.lastLogPosition = notice.end;
        for (const passive of this.passivesOf(copy.spec.database)) void this.ship(passive);
        break;
      case 'change':
        break;
    }
  }

  private passivesOf(database: string): Copy[] {
    return this.copies.filter((c) => c.spec.database === database && c.spec.role === 'passive');
  }

  private activeOf(database: string): Copy | undefined {
    return this.copies.find((c) => c.spec.database === database && c.spec.role === 'active');
  }

  /** Brings a passive copy up to its active's log end: read verified batches there, send them here. */
  private async ship(passive: Copy): Promise<void> {
    if (passive.shipping || this.stopping) return;
    passive.shipping = true;
    try {
      for (;;) {
        const active = this.activeOf(passive.spec.database);
        if (active?.status == null || passive.status === null || passive.state !== 'Healthy' || active.state !== 'Mounted') return;
        if (passive.status.lastLogPosition >= active.status.lastLogPosition) return;
        const batches = (await active.client.call('readBatches', { from: passive.status.lastLogPosition, bytesMax: shipBytesMax })) as Array<{ start: number; bytes: Uint8Array }>;
        if (batches.length === 0) return;
        for (const batch of batches) {
          passive.status.lastLogPosition = (await passive.client.call('receiveBatch', batch)) as number;
          passive.status.checkpointPosition = passive.status.lastLogPosition;
        }
      }
    } catch (error) {
      if (!this.stopping) this.say(`shipping to ${passive.spec.database}\\${passive.spec.server}#${passive.spec.copy} paused: ${(error as Error).message}`);
    } finally {
      passive.shipping = false;
    }
  }

  private onExit(copy: Copy, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (copy.child !== child) return;
    copy.child = null;
    copy.client.detach(`worker exited (${signal ?? code})`);
    if (this.stopping) {
      copy.state = 'Dismounted';
      return;
    }
    copy.state = 'Failed';
    copy.restarts += 1;
    const delay = copy.restartDelayMs;
    copy.restartDelayMs = Math.min(this.options.restartDelayMsMax ?? restartDelayMsMax, copy.restartDelayMs * 2);
    this.say(`${copy.spec.database}\\${copy.spec.server}#${copy.spec.copy} worker ${child.pid} exited (${signal ?? code}); restarting in ${delay} ms`);
    setTimeout(() => {
      if (!this.stopping) void this.spawn(copy).then(() => setTimeout(() => (copy.restartDelayMs = restartDelayMsMin), 30_000).unref());
    }, delay).unref();
  }

  /** Every copy with fresh numbers from its worker. */
  async list(): Promise<CopyStatus[]> {
    return Promise.all(
      this.copies.map(async (copy) => {
        if (copy.child !== null && copy.state !== 'Initializing') {
          try {
            copy.status = (await copy.client.call('status', {})) as WorkerStatus;
          } catch {
            // keep the last known numbers
          }
        }
        const active = this.activeOf(copy.spec.database);
        const head = active?.status?.lastLogPosition ?? 0;
        const own = copy.status?.lastLogPosition ?? 0;
        return {
          database: copy.spec.database,
          server: copy.spec.server,
          copy: copy.spec.copy,
          role: copy.spec.role,
          state: copy.state,
          pid: copy.child?.pid ?? null,
          restarts: copy.restarts,
          lastLogPosition: own,
          checkpointPosition: copy.status?.checkpointPosition ?? 0,
          copyQueueLength: copy.spec.role === 'passive' ? Math.max(0, head - own) : 0,
          replayQueueLength: copy.spec.role === 'passive' ? Math.max(0, own - (copy.status?.checkpointPosition ?? own)) : 0,
          contentIndexState: 'NotApplicable' as const,
          error: copy.error,
        };
      }),
    );
  }

  /** Clean shutdown: every worker closes its database (Clean Shutdown in its header). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.copies.map(async (copy) => {
        const child = copy.child;
        if (child === null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        try {
          await Promise.race([copy.client.call('close', {}), exited]);
        } catch {
          // already gone
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** The embedded default: each database with an active and one passive copy on this server. */
export function embeddedCopies(dataDir: string, server: string, databases: readonly string[]): CopySpec[] {
  return databases.flatMap((database) => [
    { database, server, copy: 1, role: 'active' as const, dir: join(dataDir, 'databases', database, `${server}-1`) },
    { database, server, copy: 2, role: 'passive' as const, dir: join(dataDir, 'databases', database, `${server}-2`) },
  ]);
}
