// The outbound queue: messages for other domains, kept durably until delivered or bounced.
// `enqueue` answers only once the message is on disk (write, fsync, rename, fsync of the
// directory), so a 250 on submission survives kill -9; at open every message on disk is
// scheduled again. Delivery goes through relay.ts, per domain (or all at once to the
// smarthost), with exponential backoff; recipients refused for good, or still undelivered
// when the message is too old, are reported to the sender in one DSN (dsn.ts), and so are
// deliveries the sender asked to hear of (NOTIFY=SUCCESS).
//
// Local recipients (message.local) are delivered through `options.local` instead of SMTP: the
// part of an SMTP transaction whose database could not take the message at DATA, after the
// other recipients had it (server.ts answers 250 then, and the queue redelivers).
//
// Files in <data>/transport/queue/:
//   <id>.msg    | H u32 LE | header JSON {v, id, timeMs, mailFrom, recipients, local?, dsn?,
//               failed?} | message bytes | written once, never changed
//   <id>.state  {attempts, nextAttemptMs, remaining, failed, lastError?}; replaced atomically
//               after each attempt. Missing: nothing tried yet (every recipient remaining,
//               the header's `failed` already reported on).
// A message is finished by removing .msg first, then .state; a .state alone is debris.

import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeStorage } from '../../engine/io.js';
import type { FrontEndLog, QueuedMessageStatus } from '../../protocols/frontend.js';
import { reportFor } from '../../protocols/smtp/dsn.js';
import type { FailedRecipient, OutboundMessage, OutboundQueue } from '../../protocols/smtp/types.js';
import { finishedRemembered, outboundConcurrencyMax, outboundDelayWarningMsDefault, outboundGiveUpMsDefault, outboundRetryMsBase, outboundRetryMsMax } from './constants.js';
import { type RecipientOutcome, type RelayOptions, relay } from './relay.js';
import { namesIn } from './safety-net.js';

export const outboundQueueDir = (dataDir: string): string => join(dataDir, 'transport', 'queue');

export interface QueueState {
  readonly attempts: number;
  readonly nextAttemptMs: number;
  readonly remaining: readonly string[];
  /** Recipients to report on when the message is finished: failed ones, and deliveries asked for with NOTIFY=SUCCESS. */
  readonly failed: readonly FailedRecipient[];
  /** What the last attempt of a remaining recipient ran into. */
  readonly lastError?: string;
  /** The delay report (NOTIFY=DELAY) was sent, or nobody asked for one. */
  readonly delayWarned?: boolean;
}

/** One queued message as `quire queue list` shows it. */
export interface QueueEntryView {
  readonly id: string;
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly local: readonly string[];
  readonly arrivalMs: number;
  readonly bytes: number;
  readonly attempts: number;
  readonly nextAttemptMs: number;
  readonly lastError: string | null;
}

export interface OutboundQueueOptions {
  readonly dir: string;
  readonly nowMs: () => number;
  readonly relay: RelayOptions;
  /** Hands a finished message's failures (and asked-for successes) to whoever tells the sender (a DSN). */
  readonly bounce: (message: OutboundMessage, failed: readonly FailedRecipient[]) => Promise<void>;
  /** Delivers to local recipients (message.local); without it they are retried until given up. */
  readonly local?: (message: OutboundMessage, recipients: readonly string[]) => Promise<RecipientOutcome[]>;
  readonly log: FrontEndLog;
  readonly retryMsBase?: number;
  readonly retryMsMax?: number;
  readonly giveUpMs?: number;
  /** A message still being retried after this long gets one delay report for the recipients that asked (NOTIFY=DELAY). */
  readonly delayWarningMs?: number;
  readonly concurrency?: number;
  /** Replaces relay.ts (unit tests). */
  readonly send?: typeof relay;
}

/** Write, fsync, rename, fsync of the directory (a temporary `.<name>.<pid>.tmp` left by a crash is removed at open). */
const writeDurably = (dir: string, name: string, data: Uint8Array): Promise<void> => nodeStorage().writeAtomic(join(dir, name), data);

interface MessageHeader {
  v: number;
  id: string;
  timeMs: number;
  mailFrom: string;
  recipients: string[];
  local?: Record<string, string>;
  dsn?: OutboundMessage['dsn'];
  failed?: FailedRecipient[];
}

function encodeMessage(message: OutboundMessage, failed: readonly FailedRecipient[]): Uint8Array {
  const fields: MessageHeader = { v: 1, id: message.id, timeMs: message.timeMs, mailFrom: message.mailFrom, recipients: [...message.recipients] };
  if (message.local !== undefined) fields.local = { ...message.local };
  if (message.dsn !== undefined) fields.dsn = message.dsn;
  if (failed.length > 0) fields.failed = [...failed];
  const header = Buffer.from(JSON.stringify(fields), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length, 0);
  return Buffer.concat([length, header, message.content]);
}

function decodeMessage(bytes: Buffer): { message: OutboundMessage; failed: FailedRecipient[] } | null {
  try {
    const length = bytes.readUInt32LE(0);
    const header = JSON.parse(bytes.subarray(4, 4 + length).toString('utf8')) as MessageHeader;
    if (header.v !== 1) return null;
    const message: OutboundMessage = {
      id: header.id,
      timeMs: header.timeMs,
      mailFrom: header.mailFrom,
      recipients: header.recipients,
      content: new Uint8Array(bytes.subarray(4 + length)),
      ...(header.local === undefined ? {} : { local: header.local }),
      ...(header.dsn === undefined ? {} : { dsn: header.dsn }),
    };
    return { message, failed: header.failed ?? [] };
  } catch {
    return null;
  }
}

const initialState = (message: OutboundMessage, failed: readonly FailedRecipient[]): QueueState => ({ attempts: 0, nextAttemptMs: 0, remaining: message.recipients, failed });

/** A message file (`<id>.msg`) with its state (no .state: nothing tried yet); null when the file cannot be read as one. */
async function loadEntry(dir: string, name: string): Promise<{ message: OutboundMessage; state: QueueState } | null> {
  const decoded = decodeMessage(await readFile(join(dir, name)));
  if (decoded === null) return null;
  try {
    return { message: decoded.message, state: JSON.parse(await readFile(join(dir, `${decoded.message.id}.state`), 'utf8')) as QueueState };
  } catch {
    return { message: decoded.message, state: initialState(decoded.message, decoded.failed) };
  }
}

/** Every message in a queue directory with its state, read from the files (`quire queue` without a running server). */
export async function readQueueDir(dir: string): Promise<Array<{ message: OutboundMessage; state: QueueState }>> {
  const names = await namesIn(dir);
  const found: Array<{ message: OutboundMessage; state: QueueState }> = [];
  for (const name of names.filter((n) => n.endsWith('.msg') && !n.startsWith('.'))) {
    const entry = await loadEntry(dir, name);
    if (entry !== null) found.push(entry);
  }
  return found.sort((a, b) => a.message.timeMs - b.message.timeMs);
}

export function viewOf(message: OutboundMessage, state: QueueState): QueueEntryView {
  return {
    id: message.id,
    mailFrom: message.mailFrom,
    recipients: state.remaining,
    local: state.remaining.filter((r) => message.local?.[r] !== undefined),
    arrivalMs: message.timeMs,
    bytes: message.content.length,
    attempts: state.attempts,
    nextAttemptMs: state.nextAttemptMs,
    lastError: state.lastError ?? null,
  };
}

/** Without a running server: makes one message (or all) due now; the next start tries them first. */
export async function flushQueueDir(dir: string, id?: string): Promise<number> {
  let flushed = 0;
  for (const { message, state } of await readQueueDir(dir)) {
    if (id !== undefined && message.id !== id) continue;
    await writeDurably(dir, `${message.id}.state`, Buffer.from(JSON.stringify({ ...state, nextAttemptMs: 0 })));
    flushed++;
  }
  return flushed;
}

/** Removes a message's files (.msg first: a .state alone is debris the next open removes). */
async function removeFiles(dir: string, id: string): Promise<void> {
  await rm(join(dir, `${id}.msg`), { force: true });
  await rm(join(dir, `${id}.state`), { force: true });
  await nodeStorage().syncDir(dir);
}

/** Without a running server: removes a message; with `bounce`, first queues the DSN for its sender (delivered at the next start). */
export async function deleteFromQueueDir(dir: string, id: string, bounce: ((message: OutboundMessage, failed: readonly FailedRecipient[]) => Promise<void>) | null): Promise<boolean> {
  const entry = (await readQueueDir(dir)).find((e) => e.message.id === id);
  if (entry === undefined) return false;
  if (bounce !== null) await bounce(entry.message, [...entry.state.failed, ...deletedRecipients(entry.state)]);
  await removeFiles(dir, id);
  return true;
}

/**
 * Without a running server: a bounce written into the queue directory as a message from the
 * null sender, delivered at the next start (locally when the sender's domain is accepted).
 */
export function bounceIntoQueueDir(dir: string, report: { hostname: string; newId: () => string; nowMs: () => number; isLocal: (address: string) => Promise<boolean> }) {
  return async (message: OutboundMessage, reported: readonly FailedRecipient[]): Promise<void> => {
    const id = report.newId();
    const timeMs = report.nowMs();
    const content = reportFor(message, reported, { hostname: report.hostname, id, nowMs: timeMs });
    if (content === null) return;
    const local = await report.isLocal(message.mailFrom);
    const bounce: OutboundMessage = { id, timeMs, mailFrom: '', recipients: [message.mailFrom], content, ...(local ? { local: { [message.mailFrom]: message.mailFrom } } : {}) };
    await mkdir(dir, { recursive: true });
    await writeDurably(dir, `${id}.msg`, encodeMessage(bounce, []));
  };
}

function deletedRecipients(state: QueueState): FailedRecipient[] {
  return state.remaining.map((address) => ({ address, status: '5.0.0', diagnostic: `removed from the queue by the administrator${state.lastError ? `; last: ${state.lastError}` : ''}`, remoteMta: null }));
}

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

export class FileOutboundQueue implements OutboundQueue {
  private readonly entries = new Map<string, { message: OutboundMessage; state: QueueState; busy: boolean }>();
  private readonly finished = new Map<string, QueuedMessageStatus>();
  private readonly finishedListeners = new Set<(id: string, mailFrom: string) => void>();
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
      const entry = await loadEntry(options.dir, name);
      if (entry === null) options.log.error({ file: name }, 'outbound queue: unreadable message file left in place');
      else queue.entries.set(entry.message.id, { ...entry, busy: false });
    }
    for (const name of names.filter((n) => n.endsWith('.state'))) {
      if (!queue.entries.has(name.slice(0, -'.state'.length))) await rm(join(options.dir, name), { force: true });
    }
    queue.schedule();
    return queue;
  }

  /** Durable once it resolves. */
  async enqueue(message: OutboundMessage, failed: readonly FailedRecipient[] = []): Promise<void> {
    if (this.closed) throw new Error('the outbound queue is closed');
    await writeDurably(this.options.dir, `${message.id}.msg`, encodeMessage(message, failed));
    this.entries.set(message.id, { message, state: initialState(message, failed), busy: false });
    this.schedule();
  }

  /** Messages waiting (for tests and the admin view). */
  list(): Array<{ id: string; mailFrom: string; state: QueueState }> {
    return [...this.entries.values()].map(({ message, state }) => ({ id: message.id, mailFrom: message.mailFrom, state }));
  }

  /** Messages waiting, oldest first, as `quire queue list` shows them. */
  view(): QueueEntryView[] {
    return [...this.entries.values()].sort((a, b) => a.message.timeMs - b.message.timeMs).map(({ message, state }) => viewOf(message, state));
  }

  /** Makes one message (or every one) due now; answers how many. */
  flush(id?: string): number {
    let flushed = 0;
    for (const entry of this.entries.values()) {
      if (id !== undefined && entry.message.id !== id) continue;
      entry.state = { ...entry.state, nextAttemptMs: 0 };
      flushed++;
    }
    this.schedule();
    return flushed;
  }

  /** Removes a message (waiting for a running attempt to end first); with `bounce`, its sender gets a DSN for the recipients left. False: no such message. */
  async remove(id: string, bounce: boolean): Promise<boolean> {
    let entry = this.entries.get(id);
    while (entry?.busy === true) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      entry = this.entries.get(id);
    }
    if (entry === undefined) return false;
    this.entries.delete(id);
    try {
      if (bounce) await this.options.bounce(entry.message, [...entry.state.failed, ...deletedRecipients(entry.state)]);
    } catch (error) {
      this.entries.set(id, entry);
      throw error;
    }
    await removeFiles(this.options.dir, id);
    return true;
  }

  /** A message's state, while queued and for a while after it finished (the newest finishedRemembered, in memory); null when unknown. */
  status(id: string): QueuedMessageStatus | null {
    const entry = this.entries.get(id);
    if (entry === undefined) return this.finished.get(id) ?? null;
    const failed = entry.state.failed.filter((f) => (f.action ?? 'failed') === 'failed');
    return { finished: false, attempts: entry.state.attempts, remaining: entry.state.remaining, failed, busy: entry.busy };
  }

  /** Takes a message out, without a DSN, while no attempt runs and no recipient has it yet; false when too late (JMAP undo). */
  async cancel(id: string): Promise<boolean> {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.busy) return false;
    const delivered = entry.message.recipients.length - entry.state.remaining.length - entry.state.failed.filter((f) => (f.action ?? 'failed') === 'failed').length;
    if (delivered > 0) return false;
    return this.remove(id, false);
  }

  private remember(id: string, failed: readonly FailedRecipient[], attempts: number): void {
    this.finished.set(id, { finished: true, attempts, remaining: [], failed: failed.filter((f) => (f.action ?? 'failed') === 'failed'), busy: false });
    while (this.finished.size > finishedRemembered) this.finished.delete(this.finished.keys().next().value!);
  }

  /** Calls `listener` with each message the queue finishes (delivered or bounced, its status() final); returns the unsubscribe function. */
  onFinished(listener: (id: string, mailFrom: string) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
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
    const local: string[] = [];
    for (const address of state.remaining) {
      if (message.local?.[address] !== undefined) {
        local.push(address);
        continue;
      }
      // One SMTP transaction per domain (or the smarthost) and per NOTIFY/ORCPT: they go per message in nodemailer.
      const params = message.dsn?.recipients[address.toLowerCase()];
      const key = JSON.stringify([this.options.relay.smarthost !== null ? '' : domainOf(address), params?.notify ?? null, params?.orcpt ?? null]);
      groups.set(key, [...(groups.get(key) ?? []), address]);
    }
    const outcomes: RecipientOutcome[] = [];
    if (local.length > 0) {
      try {
        if (this.options.local === undefined) throw new Error('no local delivery configured');
        outcomes.push(...(await this.options.local(message, local)));
      } catch (error) {
        outcomes.push(...local.map((address): RecipientOutcome => ({ address, outcome: 'retry', status: '4.3.0', diagnostic: (error as Error).message, remoteMta: null })));
      }
    }
    for (const [domain, recipients] of groups) {
      try {
        const [, notify, orcpt] = JSON.parse(domain) as [string, string[] | null, string | null];
        const dsn = message.dsn === undefined ? undefined : { ret: message.dsn.ret, envid: message.dsn.envid, notify, orcpt };
        outcomes.push(...(await send(message.mailFrom, recipients, message.content, domainOf(recipients[0]!), this.options.relay, dsn)));
      } catch (error) {
        outcomes.push(...recipients.map((address): RecipientOutcome => ({ address, outcome: 'retry', status: '4.0.0', diagnostic: (error as Error).message, remoteMta: null })));
      }
    }
    const now = this.options.nowMs();
    const notify = (address: string): readonly string[] => message.dsn?.recipients[address.toLowerCase()]?.notify ?? [];
    const failed: FailedRecipient[] = [
      ...state.failed,
      ...outcomes.filter((o) => o.outcome === 'failed').map(({ address, status, diagnostic, remoteMta }) => ({ address, status, diagnostic, remoteMta })),
      // NOTIFY=SUCCESS: delivered here, or relayed to a server that did not take the DSN request (one that did reports itself).
      ...outcomes
        .filter((o) => o.outcome === 'delivered' && notify(o.address).includes('SUCCESS') && o.dsnPassed !== true)
        .map(({ address, diagnostic, remoteMta }): FailedRecipient => ({ address, action: message.local?.[address] !== undefined ? 'delivered' : 'relayed', status: '2.0.0', diagnostic, remoteMta })),
    ];
    let remaining = outcomes.filter((o) => o.outcome === 'retry');
    const lastError = remaining[0]?.diagnostic;
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
      await removeFiles(this.options.dir, message.id);
      this.entries.delete(message.id);
      this.remember(message.id, failed, attempts);
      for (const listener of this.finishedListeners) {
        try {
          listener(message.id, message.mailFrom);
        } catch (error) {
          this.options.log.warn({ id: message.id, error: (error as Error).message }, 'outbound: a listener of finished messages failed');
        }
      }
      return;
    }
    let delayWarned = state.delayWarned === true;
    if (!delayWarned && now - message.timeMs >= (this.options.delayWarningMs ?? outboundDelayWarningMsDefault)) {
      const delayed = remaining
        .filter((o) => notify(o.address).includes('DELAY'))
        .map(({ address, status, diagnostic, remoteMta }): FailedRecipient => ({ address, action: 'delayed', status, diagnostic, remoteMta }));
      try {
        if (delayed.length > 0) await this.options.bounce(message, delayed);
        delayWarned = true;
      } catch (error) {
        this.options.log.error({ id: message.id, error: (error as Error).message }, 'outbound: delay report failed; tried again at the next attempt');
      }
    }
    entry.state = { attempts, nextAttemptMs: now + this.backoffMs(attempts), remaining: remaining.map((o) => o.address), failed, ...(lastError === undefined ? {} : { lastError }), ...(delayWarned ? { delayWarned } : {}) };
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
