// The outbound queue: messages for other domains, kept durably until delivered or bounced.
// `enqueue` answers only once the message is on disk (write, fsync, rename, fsync of the
// directory), so a 250 on submission survives kill -9; at open every message on disk is
// scheduled again. Delivery goes through relay.ts, per domain (or all at once to the
// smarthost), with exponential backoff; recipients refused for good, or still undelivered
// when the message is too old, are reported to the sender in one DSN (dsn.ts).
//
// Files in <data>/transport/queue/:
//   <id>.msg    | H u32 LE | header JSON {v, id, timeMs, mailFrom, recipients} | message bytes |
//               written once, never changed
//   <id>.state  {attempts, nextAttemptMs, remaining, failed}; replaced atomically after each
//               attempt. Missing: nothing tried yet (every recipient remaining).
// A message is finished by removing .msg first, then .state; a .state alone is debris.

import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeStorage } from '../../engine/io.js';
import type { FrontEndLog } from '../../protocols/frontend.js';
import type { FailedRecipient } from '../../protocols/smtp/dsn.js';
import type { OutboundMessage, OutboundQueue } from '../../protocols/smtp/types.js';
import { outboundConcurrencyMax, outboundGiveUpMsDefault, outboundRetryMsBase, outboundRetryMsMax } from './constants.js';
import { type RecipientOutcome, type RelayOptions, relay } from './relay.js';

export const outboundQueueDir = (dataDir: string): string => join(dataDir, 'transport', 'queue');

export interface QueueState {
  readonly attempts: number;
  readonly nextAttemptMs: number;
  readonly remaining: readonly string[];
  readonly failed: readonly FailedRecipient[];
}

export interface OutboundQueueOptions {
  readonly dir: string;
  readonly nowMs: () => number;
  readonly relay: RelayOptions;
  /** Hands a finished message's failures to whoever tells the sender (a DSN). */
  readonly bounce: (message: OutboundMessage, failed: readonly FailedRecipient[]) => Promise<void>;
  readonly log: FrontEndLog;
  readonly retryMsBase?: number;
  readonly retryMsMax?: number;
  readonly giveUpMs?: number;
  readonly concurrency?: number;
  /** Replaces relay.ts (unit tests). */
  readonly send?: typeof relay;
}


async function writeDurably(dir: string, name: string, data: Uint8Array): Promise<void> {
  const temp = join(dir, `.${name}.tmp`);
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, join(dir, name));
  await nodeStorage().syncDir(dir);
}

function encodeMessage(message: OutboundMessage): Uint8Array {
  const header = Buffer.from(JSON.stringify({ v: 1, id: message.id, timeMs: message.timeMs, mailFrom: message.mailFrom, recipients: message.recipients }), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length, 0);
  return Buffer.concat([length, header, message.content]);
}

function decodeMessage(bytes: Buffer): OutboundMessage | null {
  try {
    const length = bytes.readUInt32LE(0);
    const header = JSON.parse(bytes.subarray(4, 4 + length).toString('utf8')) as { v: number; id: string; timeMs: number; mailFrom: string; recipients: string[] };
    if (header.v !== 1) return null;
    return { id: header.id, timeMs: header.timeMs, mailFrom: header.mailFrom, recipients: header.recipients, content: new Uint8Array(bytes.subarray(4 + length)) };
  } catch {
    return null;
  }
}

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

export class FileOutboundQueue implements OutboundQueue {
  private readonly entries = new Map<string, { message: OutboundMessage; state: QueueState; busy: boolean }>();
  private timer: NodeJS.Timeout | null = null;
  private running = 0;
  private closed = false;
  private readonly idle: Array<() => void> = [];

  private constructor(private readonly options: OutboundQueueOptions) {}

  /** Opens the queue and schedules every message found on disk. */
  static async open(options: OutboundQueueOptions): Promise<FileOutboundQueue> {
    await mkdir(options.dir, { recursive: true });
    const queue = new FileOutboundQueue(options);
    const names = await readdir(options.dir);
    for (const name of names) {
      if (name.startsWith('.') && name.endsWith('.tmp')) await rm(join(options.dir, name), { force: true });
    }
    for (const name of names.filter((n) => n.endsWith('.msg'))) {
      const message = decodeMessage(await readFile(join(options.dir, name)));
      if (message === null) {
        options.log.error({ file: name }, 'outbound queue: unreadable message file left in place');
        continue;
      }
      let state: QueueState = { attempts: 0, nextAttemptMs: 0, remaining: message.recipients, failed: [] };
      try {
        state = JSON.parse(await readFile(join(options.dir, `${message.id}.state`), 'utf8')) as QueueState;
      } catch {
        // no state yet: nothing was tried
      }
      queue.entries.set(message.id, { message, state, busy: false });
    }
    for (const name of names.filter((n) => n.endsWith('.state'))) {
      if (!queue.entries.has(name.slice(0, -'.state'.length))) await rm(join(options.dir, name), { force: true });
    }
    queue.schedule();
    return queue;
  }

  /** Durable once it resolves. */
  async enqueue(message: OutboundMessage): Promise<void> {
    if (this.closed) throw new Error('the outbound queue is closed');
    await writeDurably(this.options.dir, `${message.id}.msg`, encodeMessage(message));
    this.entries.set(message.id, { message, state: { attempts: 0, nextAttemptMs: 0, remaining: message.recipients, failed: [] }, busy: false });
    this.schedule();
  }

  /** Messages waiting (for tests and the admin view). */
  list(): Array<{ id: string; mailFrom: string; state: QueueState }> {
    return [...this.entries.values()].map(({ message, state }) => ({ id: message.id, mailFrom: message.mailFrom, state }));
  }

  /** Resolves when nothing is due or running (tests). */
  settled(): Promise<void> {
    if (this.running === 0 && ![...this.entries.values()].some((e) => e.state.nextAttemptMs <= this.options.nowMs())) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const now = this.options.nowMs();
    const concurrency = this.options.concurrency ?? outboundConcurrencyMax;
    const due = [...this.entries.values()].filter((e) => !e.busy && e.state.nextAttemptMs <= now).sort((a, b) => a.state.nextAttemptMs - b.state.nextAttemptMs);
    for (const entry of due) {
      if (this.running >= concurrency) break;
      entry.busy = true;
      this.running++;
      void this.attempt(entry).finally(() => {
        entry.busy = false;
        this.running--;
        this.schedule();
      });
    }
    const waiting = [...this.entries.values()].filter((e) => !e.busy);
    if (this.running === 0 && !waiting.some((e) => e.state.nextAttemptMs <= now)) for (const resolve of this.idle.splice(0)) resolve();
    if (waiting.length > 0) {
      const nextMs = Math.min(...waiting.map((e) => e.state.nextAttemptMs));
      this.timer = setTimeout(() => this.schedule(), Math.max(10, Math.min(nextMs - now, 60_000)));
      this.timer.unref();
    }
  }

  private async attempt(entry: { message: OutboundMessage; state: QueueState }): Promise<void> {
    const { message, state } = entry;
    const send = this.options.send ?? relay;
    const groups = new Map<string, string[]>();
    for (const address of state.remaining) {
      const key = this.options.relay.smarthost !== null ? '' : domainOf(address);
      groups.set(key, [...(groups.get(key) ?? []), address]);
    }
    const outcomes: RecipientOutcome[] = [];
    for (const [domain, recipients] of groups) {
      try {
        outcomes.push(...(await send(message.mailFrom, recipients, message.content, domain || domainOf(recipients[0]!), this.options.relay)));
      } catch (error) {
        outcomes.push(...recipients.map((address): RecipientOutcome => ({ address, outcome: 'retry', status: '4.0.0', diagnostic: (error as Error).message, remoteMta: null })));
      }
    }
    const now = this.options.nowMs();
    const failed = [...state.failed, ...outcomes.filter((o) => o.outcome === 'failed').map(({ address, status, diagnostic, remoteMta }) => ({ address, status, diagnostic, remoteMta }))];
    let remaining = outcomes.filter((o) => o.outcome === 'retry');
    const attempts = state.attempts + 1;
    if (remaining.length > 0 && now - message.timeMs >= (this.options.giveUpMs ?? outboundGiveUpMsDefault)) {
      failed.push(...remaining.map((o) => ({ address: o.address, status: '4.4.7', diagnostic: `delivery time expired after ${attempts} attempts; last: ${o.diagnostic}`, remoteMta: o.remoteMta })));
      remaining = [];
    }
    this.options.log.info({ id: message.id, attempts, delivered: outcomes.filter((o) => o.outcome === 'delivered').length, failed: failed.length, retry: remaining.length }, 'outbound attempt');
    if (remaining.length === 0) {
      if (failed.length > 0) {
        try {
          await this.options.bounce(message, failed);
        } catch (error) {
          // The bounce could not be stored: keep the message and try the bounce again later.
          this.options.log.error({ id: message.id, error: (error as Error).message }, 'outbound: bounce failed');
          entry.state = { attempts, nextAttemptMs: now + this.backoffMs(attempts), remaining: [], failed };
          await writeDurably(this.options.dir, `${message.id}.state`, Buffer.from(JSON.stringify(entry.state)));
          return;
        }
      }
      await rm(join(this.options.dir, `${message.id}.msg`), { force: true });
      await rm(join(this.options.dir, `${message.id}.state`), { force: true });
      await nodeStorage().syncDir(this.options.dir);
      this.entries.delete(message.id);
      return;
    }
    entry.state = { attempts, nextAttemptMs: now + this.backoffMs(attempts), remaining: remaining.map((o) => o.address), failed };
    await writeDurably(this.options.dir, `${message.id}.state`, Buffer.from(JSON.stringify(entry.state)));
  }

  private backoffMs(attempts: number): number {
    return Math.min(this.options.retryMsMax ?? outboundRetryMsMax, (this.options.retryMsBase ?? outboundRetryMsBase) * 2 ** Math.min(attempts - 1, 30));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    while (this.running > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
