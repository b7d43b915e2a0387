// The engine's main test: one seed drives a mailbox database through concurrent writers and
// faults (power loss at any I/O call, torn and lost writes, I/O errors, bit flips in the log and
// in the state store, clean restarts) on virtual time and a simulated disk, and checkers say
// after every restart that nothing acknowledged was lost, that replaying the log from zero gives
// the live state, that UIDs and modseqs only grow, and that corruption is detected, never served.
// README.md beside this file lists every fault and checker.

import { createHash } from 'node:crypto';
import type { OpResult, TxOp, TxRequest } from '../api.js';
import { DatabaseCorruptError, MailboxDatabase } from '../database.js';
import type { Result } from '../errors.js';
import { type Prng, seededPrng } from '../io.js';
import { LogCorruptError } from '../log/log.js';
import { flushMapName } from '../log/flushmap.js';
import { KvCorruptionError, MemoryKv } from '../state/kv.js';
import { type DatabaseState, canonicalState, emptyState, messagePrefix } from '../state/model.js';
import { takesPrefix } from '../state/plan.js';
import { loadState } from '../state/store.js';
import { VirtualClock } from './clock.js';
import { summarize } from '../mime/parse.js';
import { summariesPerCallMax } from '../mime/constants.js';
import { generateCriterion } from '../search/corpus.js';
import { matches, prefixTextOf, searchText, type SearchText } from '../search/text.js';
import { SimIoError, SimStorage } from './storage.js';

export interface SimOptions {
  /** Workload rounds after the mailboxes are created. */
  readonly rounds?: number;
  readonly mailboxes?: number;
  /** Largest number of transactions in flight at once. */
  readonly writersMax?: number;
  readonly logSegmentBytesMax?: number;
  /** Share of torn writes whose lost part reads back as garbage (the rest: zeros or nothing). */
  readonly tornGarbageProbability?: number;
  /** Recreate a deleted mailbox under its old id (off by default: shows the UIDVALIDITY reuse gap, README). */
  readonly reuseMailboxIds?: boolean;
  /** Lines of the step log kept for a failure report. */
  readonly stepLogLines?: number;
}

export interface SimStats {
  rounds: number;
  commits: number;
  commitsOk: number;
  commitsRefused: number;
  commitsUnknown: number;
  batches: number;
  crashes: number;
  crashesInFlight: number;
  crashesInOpen: number;
  cleanRestarts: number;
  ioErrors: number;
  logFlips: number;
  logFlipsDetected: number;
  /** Flips in the flush map: the slot fails its checksum and the other one is used. */
  flushMapFlipsIgnored: number;
  /** Flips in the zeros the log writes ahead of its data: cut at recovery or by a clean close, never data. */
  zeroTailFlipsIgnored: number;
  kvFlips: number;
  kvFlipsDetected: number;
  kvFlipsUnread: number;
  kvRebuilds: number;
  checks: number;
  messagesRead: number;
  /** Content searches compared with brute force, and those made while the index had a backlog. */
  searches: number;
  searchesWithBacklog: number;
  tornWrites: number;
  lostWrites: number;
}

export interface SimResult {
  readonly ok: boolean;
  readonly seed: number;
  readonly steps: number;
  readonly stats: SimStats;
  /** Set when the run ended early because a log copy was found corrupt (the right outcome). */
  readonly detected?: string;
  readonly failure?: string;
  readonly stepLog: string[];
}

class SimFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimFailure';
  }
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new SimFailure(message);
}


const enc = new TextEncoder();
const databaseDir = '/quire/db/DB01';
const logDir = `${databaseDir}/log`;
const headerPath = `${databaseDir}/header.json`;
const flagPool = ['\\Seen', '\\Flagged', '\\Answered', '\\Deleted', '$Junk', 'work'];
const folderPool = ['Lists', 'Lists/rust', 'Lists/node', 'Projects', 'Projects/quire', 'Old', 'INBOX/sub', 'Zeta'];

/** What must hold for a commit that was acknowledged: its appends exist until expunged. */
interface AckedAppend {
  readonly mailboxId: string;
  readonly uidValidity: number;
  readonly uid: number;
  readonly emailId: string;
  readonly hash: string;
}

type Outcome = { kind: 'ok'; value: Result<unknown> } | { kind: 'crashed' } | { kind: 'error'; error: unknown };

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;

function corruptionKind(error: unknown): 'log' | 'kv' | null {
  if (error instanceof LogCorruptError) return 'log';
  if (error instanceof KvCorruptionError) return 'kv';
  if (error instanceof DatabaseCorruptError) return /state store/.test(error.message) ? 'kv' : 'log';
  return null;
}

class Simulation {
  readonly stats: SimStats = {
    rounds: 0, commits: 0, commitsOk: 0, commitsRefused: 0, commitsUnknown: 0, batches: 0,
    crashes: 0, crashesInFlight: 0, crashesInOpen: 0, cleanRestarts: 0, ioErrors: 0,
    logFlips: 0, logFlipsDetected: 0, flushMapFlipsIgnored: 0, zeroTailFlipsIgnored: 0, kvFlips: 0, kvFlipsDetected: 0, kvFlipsUnread: 0, kvRebuilds: 0,
    checks: 0, messagesRead: 0, tornWrites: 0, lostWrites: 0, searches: 0, searchesWithBacklog: 0,
  };
  private readonly prng: Prng;
  private readonly faults: Prng;
  private readonly storage: SimStorage;
  private readonly clock: VirtualClock;
  private kv = new MemoryKv();
  private db: MailboxDatabase | null = null;
  /** Bumped at every restart: answers and callbacks from an older generation come from a dead process. */
  private generation = 0;
  private steps = 0;
  private readonly stepLog: string[] = [];
  private detected: string | undefined;

  // What the checkers know, from the outside.
  private ackedEnd = 0;
  private syncedEnd = 0;
  private readonly batches = new Map<number, { end: number; bytes: Uint8Array }>();
  private readonly snapshots = new Map<number, string>([[0, canonicalState(emptyState())]]);
  private readonly ackedAppends: AckedAppend[] = [];
  private readonly contents = new Map<string, Uint8Array>();
  private readonly contentPool: Uint8Array[] = [];
  private readonly folderHighs = new Map<string, { uidNext: number; modseqHighest: number }>();
  private readonly uidOwners = new Map<string, string>();
  private readonly mailboxIds: string[] = [];
  private flipPending: { kind: 'log' | 'kv'; where: string; position?: number } | null = null;
  private crashSignal: { promise: Promise<void>; fired: boolean } | null = null;

  constructor(readonly seed: number, private readonly options: SimOptions) {
    const root = seededPrng(seed);
    this.prng = seededPrng(root.nextU32());
    this.faults = seededPrng(root.nextU32());
    this.storage = new SimStorage(seededPrng(root.nextU32()), { tornGarbageProbability: options.tornGarbageProbability ?? 0.3 });
    this.engineSeed = root.nextU32();
    this.searchPrng = seededPrng(seed ^ 0x5ea4c4);
    this.clock = new VirtualClock(1_700_000_000_000 + root.below(1_000_000_000));
  }
  private readonly engineSeed: number;
  /** Search criteria come from their own stream, so the workload of a seed is the same with or without them. */
  private readonly searchPrng: Prng;
  private readonly searchTexts = new Map<string, SearchText>();

  step(line: string): void {
    this.steps += 1;
    this.stepLog.push(`#${this.steps} r${this.stats.rounds} g${this.generation} ${line}`);
    const max = this.options.stepLogLines ?? 60;
    if (this.stepLog.length > max) this.stepLog.splice(0, this.stepLog.length - max);
  }

  async run(): Promise<SimResult> {
    try {
      await this.openChecked('first open');
      const mailboxes = this.options.mailboxes ?? 1 + this.prng.below(3);
      for (let i = 1; i <= mailboxes; i++) {
        const mailboxId = `u${i}`;
        this.mailboxIds.push(mailboxId);
        const result = await this.submit({ mailboxId, ops: [{ op: 'createMailbox', address: `${mailboxId}@sim.test`, quotaBytes: null }] });
        check(result === 'ok', `creating mailbox ${mailboxId} did not succeed: ${result}`);
      }
      const rounds = this.options.rounds ?? 80;
      for (; this.stats.rounds < rounds && this.detected === undefined; this.stats.rounds++) {
        this.clock.advance(1 + this.prng.below(2500));
        const pick = this.faults.below(1000);
        // One flip at a time, so a detection can be told apart from a false alarm.
        const flipAllowed = this.flipPending === null;
        if (pick < 760) await this.writeRound();
        else if (pick < 820) await this.restart('clean');
        else if (pick < 890) await this.restart('crash');
        else if (pick < 896 && flipAllowed) await this.logFlip();
        else if (pick < 945 && flipAllowed) await this.kvFlip();
        else await this.readCheck();
      }
      if (this.detected === undefined) await this.restart('clean');
      if (this.detected === undefined && this.db !== null) await this.db.close();
      this.stats.tornWrites = this.storage.stats.writesTorn;
      this.stats.lostWrites = this.storage.stats.writesLost;
      return { ok: true, seed: this.seed, steps: this.steps, stats: this.stats, stepLog: this.stepLog, ...(this.detected === undefined ? {} : { detected: this.detected }) };
    } catch (error) {
      const message = error instanceof SimFailure ? error.message : `unexpected ${(error as Error)?.stack ?? String(error)}`;
      return { ok: false, seed: this.seed, steps: this.steps, stats: this.stats, failure: message, stepLog: this.stepLog };
    }
  }

  // ------------------------------------------------------------------ workload

  private liveDb(): MailboxDatabase {
    check(this.db !== null, 'no open database');
    return this.db;
  }

  /** Several transactions in flight at once (group commit batches them), maybe with a fault among them. */
  private async writeRound(): Promise<void> {
    const db = this.liveDb();
    const writers = 1 + this.prng.below(this.options.writersMax ?? 6);
    const requests: TxRequest[] = [];
    for (let i = 0; i < writers; i++) requests.push(this.request(db.durableState()));
    const fault = this.faults.below(100);
    let crash: Promise<void> | null = null;
    if (fault < 12) {
      const n = 1 + this.faults.below(4);
      crash = this.armCrash(n);
      this.step(`arm crash at I/O call +${n}`);
    } else if (fault < 18) {
      const n = 1 + this.faults.below(4);
      this.storage.failAfterOps(n);
      this.step(`arm EIO at I/O call +${n}`);
    }
    const ioErrorsBefore = this.storage.stats.ioErrors;
    this.step(`write round: ${requests.map((r) => `${r.mailboxId}[${r.ops.map((o) => o.op).join(',')}]`).join(' ')}`);
    const answers = Promise.all(requests.map((r) => this.submit(r)));
    const settled = await Promise.race([answers, crash ?? new Promise<never>(() => {})]);
    this.storage.disarm();
    if (this.crashSignal?.fired) {
      this.stats.crashesInFlight += 1;
      await this.afterCrash('crash with commits in flight');
      return;
    }
    this.crashSignal = null;
    const results = settled as string[];
    if (results.some((r) => r === 'unavailable' || r === 'threw')) {
      check(this.storage.stats.ioErrors > ioErrorsBefore, `commit failed without an injected fault: ${results.join(',')}`);
      this.stats.ioErrors += 1;
      // The database refuses writes after a failed fsync; the supervisor restarts the process.
      this.step('EIO failed the log: restart the process');
      this.storage.crash();
      this.crashKv();
      this.stats.crashes += 1;
      await this.afterCrash('restart after EIO');
    }
  }

  private async submit(request: TxRequest): Promise<string> {
    const db = this.liveDb();
    const generation = this.generation;
    this.stats.commits += 1;
    let result;
    try {
      result = await db.commit(request);
    } catch (error) {
      if (generation !== this.generation) return 'dead';
      if (error instanceof SimIoError) return 'threw';
      throw error;
    }
    if (generation !== this.generation) {
      this.stats.commitsUnknown += 1;
      return 'dead';
    }
    if (!result.ok) {
      if (result.code === 'DATABASE_UNAVAILABLE') {
        this.stats.commitsUnknown += 1;
        return 'unavailable';
      }
      this.stats.commitsRefused += 1;
      return result.code;
    }
    this.stats.commitsOk += 1;
    this.ackedEnd = Math.max(this.ackedEnd, result.value.position);
    request.ops.forEach((op, i) => {
      const r = result.value.results[i] as OpResult | undefined;
      if (op.op === 'append' && r?.op === 'append') {
        this.ackedAppends.push({ mailboxId: request.mailboxId, uidValidity: r.uidValidity, uid: r.uid, emailId: r.emailId, hash: sha256(op.prefix === undefined || takesPrefix(op.content, op.prefix) ? op.content : new Uint8Array([...op.prefix, ...op.content])) });
      }
    });
    return 'ok';
  }

  private request(state: DatabaseState): TxRequest {
    const p = this.prng;
    const slot = p.below(this.mailboxIds.length);
    let mailboxId = this.mailboxIds[slot]!;
    let mailbox = state.mailboxes.get(mailboxId);
    if (mailbox === undefined && !(this.options.reuseMailboxIds ?? false)) {
      // A deleted user comes back under a new mailbox id. (Under the same id the new folders can
      // get the old UIDVALIDITY: see README, known gaps.)
      mailboxId = `${mailboxId.split('-')[0]}-${this.stats.commits}`;
      this.mailboxIds[slot] = mailboxId;
      mailbox = undefined;
    }
    const names = mailbox === undefined ? ['INBOX'] : [...mailbox.folderIdsByName.keys()].sort();
    const folderName = (): string => (p.below(20) === 0 ? 'Missing' : names[p.below(names.length)]!);
    const uidsOf = (name: string): number[] => {
      const folder = mailbox?.folders.get(mailbox.folderIdsByName.get(name) ?? -1);
      const uids: number[] = [];
      const messages = folder?.messages ?? [];
      const count = 1 + p.below(4);
      for (let i = 0; i < count && messages.length > 0; i++) uids.push(messages[p.below(messages.length)]!.uid);
      if (p.below(5) === 0) uids.push((folder?.uidNext ?? 1) + p.below(3)); // a UID not there (yet)
      return uids;
    };
    const flags = (): string[] => flagPool.filter(() => p.below(4) === 0);
    if (mailbox === undefined) {
      return { mailboxId, ops: [{ op: 'createMailbox', address: `${mailboxId.split('-')[0]}@sim.test`, quotaBytes: null }] };
    }
    const ops: TxOp[] = [];
    const count = p.below(4) === 0 ? 2 + p.below(3) : 1;
    for (let i = 0; i < count; i++) {
      const kind = p.below(100);
      const folder = folderName();
      if (kind < 40) {
        const content = this.content();
        ops.push({ op: 'append', folder, content, flags: flags(), ...this.prefixFor(mailboxId, content) });
      }
      else if (kind < 58) {
        const unchangedSince = p.below(3) === 0 ? Math.max(0, (mailbox.modseqHighest ?? 0) - p.below(6)) : undefined;
        const modes = ['set', 'add', 'remove'] as const;
        ops.push({ op: 'store', folder, uids: uidsOf(folder), mode: modes[p.below(3)]!, flags: flags(), ...(unchangedSince === undefined ? {} : { unchangedSince }) });
      } else if (kind < 66) ops.push({ op: 'expunge', folder, uids: uidsOf(folder) });
      else if (kind < 73) ops.push({ op: 'copy', folder, uids: uidsOf(folder), to: folderName() });
      else if (kind < 80) ops.push({ op: 'move', folder, uids: uidsOf(folder), to: folderName() });
      else if (kind < 86) ops.push({ op: 'createFolder', name: folderPool[p.below(folderPool.length)]! });
      else if (kind < 89) ops.push({ op: 'renameFolder', from: folderPool[p.below(folderPool.length)]!, to: folderPool[p.below(folderPool.length)]! + (p.below(2) === 0 ? '' : `${p.below(3)}`) });
      else if (kind < 92) ops.push({ op: 'deleteFolder', name: p.below(6) === 0 ? 'INBOX' : folderPool[p.below(folderPool.length)]! });
      else if (kind < 95) ops.push({ op: 'subscribe', name: folderName(), subscribed: p.below(2) === 0 });
      else if (kind < 97) {
        // Account documents: set (sometimes with keepNewest) or destroy, from small pools so they collide.
        const documentKind = ['identity', 'submission'][p.below(2)]!;
        const id = `d${p.below(5)}`;
        if (p.below(3) === 0) ops.push({ op: 'destroyDocument', kind: documentKind, id });
        else ops.push({ op: 'setDocument', kind: documentKind, id, value: { n: p.below(1000) }, ...(p.below(4) === 0 ? { keepNewest: 1 + p.below(3) } : {}) });
      } else if (kind < 98) {
        const quotaBytes = p.below(2) === 0 ? null : mailbox.usedBytes + p.below(8000);
        ops.push({ op: 'setQuota', quotaBytes });
      } else if (kind < 99 && count === 1 && p.below(4) === 0) ops.push({ op: 'deleteMailbox', address: mailbox.address });
      else ops.push({ op: 'append', folder: 'INBOX', content: this.content() });
    }
    const request: TxRequest = { mailboxId, ops };
    if (p.below(20) === 0) {
      // A read-modify-write of documents: the state read, or a stale one (MODIFIED).
      const state = mailbox.documents.get('identity')?.modseqHighest ?? 0;
      return { ...request, expectDocuments: { identity: state - (p.below(3) === 0 ? 1 : 0) } };
    }
    if (p.below(10) === 0) {
      const name = names[p.below(names.length)]!;
      const folder = mailbox.folders.get(mailbox.folderIdsByName.get(name)!);
      return { ...request, expectUidValidity: { [name]: (folder?.uidValidity ?? 1) + (p.below(3) === 0 ? 1 : 0) } };
    }
    return request;
  }

  /** Message bytes: often repeated (content stored once), small text, compressible text, or noise. */
  /** A delivery's own header prefix, for a third of the appends (content that cannot carry one is stored whole: known too). */
  private prefixFor(mailboxId: string, content: Uint8Array): { prefix?: Uint8Array } {
    if (this.prng.below(3) !== 0) return {};
    const prefix = enc.encode(`Delivered-To: ${mailboxId}+${this.prng.below(4)}@sim.test\r\n`);
    const joined = new Uint8Array([...prefix, ...content]);
    this.contents.set(sha256(joined), joined);
    return { prefix };
  }

  private content(): Uint8Array {
    const p = this.prng;
    if (this.contentPool.length > 0 && p.below(100) < 25) return this.contentPool[p.below(this.contentPool.length)]!;
    let bytes: Uint8Array;
    const shape = p.below(3);
    const id = p.nextU32().toString(16);
    if (shape === 0) bytes = enc.encode(`Subject: note ${id}\r\n\r\nhello ${id}\r\n`);
    else if (shape === 1) bytes = enc.encode(`Subject: digest ${id}\r\nFrom: list@sim.test\r\n\r\n${`line of a digest ${id}\r\n`.repeat(20 + p.below(150))}`);
    else bytes = p.bytes(64 + p.below(1500));
    const hash = sha256(bytes);
    if (!this.contents.has(hash)) {
      this.contents.set(hash, bytes);
      this.contentPool.push(bytes);
    }
    return bytes;
  }

  // ------------------------------------------------------------------ faults and restarts

  private armCrash(n: number): Promise<void> {
    let fire!: () => void;
    const promise = new Promise<void>((resolve) => (fire = resolve));
    const signal = { promise, fired: false };
    this.crashSignal = signal;
    this.storage.crashAfterOps(n, () => {
      signal.fired = true;
      this.crashKv();
      this.stats.crashes += 1;
      fire();
    });
    return promise;
  }

  /** The state store loses a random suffix of its unsynced batches, as RocksDB without WAL sync would. */
  private crashKv(): void {
    const keep = this.faults.below(this.kv.unsyncedBatches() + 1);
    this.step(`kv crash keeps ${keep}/${this.kv.unsyncedBatches()} unsynced batches`);
    this.kv.crash(keep);
  }

  private async restart(kind: 'clean' | 'crash'): Promise<void> {
    const db = this.liveDb();
    if (kind === 'clean') {
      this.step('clean close');
      this.stats.cleanRestarts += 1;
      await db.close();
      this.generation += 1;
      this.db = null;
      this.kv = this.kv.reopen();
      await this.openChecked('reopen after clean close');
    } else {
      // Power loss between rounds: the log has nothing in flight, the state store may.
      this.step('power loss (idle)');
      this.storage.crash();
      this.crashKv();
      this.stats.crashes += 1;
      await this.afterCrash('reopen after power loss');
    }
  }

  private async afterCrash(why: string): Promise<void> {
    this.crashSignal = null;
    this.generation += 1;
    this.db = null;
    this.kv = this.kv.reopen();
    if (this.faults.below(4) === 0) {
      // The machine comes back with its wall clock stepped back (a bad RTC): UIDVALIDITY must still grow.
      const stepMs = -this.faults.below(10_000);
      this.clock.stepWall(stepMs);
      this.step(`wall clock stepped ${stepMs} ms`);
    }
    await this.openChecked(why);
  }

  /** Opens the database (surviving crashes and I/O errors during recovery), then runs every checker. */
  private async openChecked(why: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      check(attempt < 20, 'could not open the database in 20 attempts');
      this.step(`open (${why}, attempt ${attempt})`);
      let crash: Promise<void> | null = null;
      const fault = attempt < 3 ? this.faults.below(100) : 100;
      if (fault < 8) crash = this.armCrash(1 + this.faults.below(12));
      else if (fault < 12) this.storage.failAfterOps(1 + this.faults.below(12));
      const outcome = await this.race(this.openDatabase(), crash);
      this.storage.disarm();
      if (outcome.kind === 'crashed') {
        this.stats.crashesInOpen += 1;
        this.step('power loss during open');
        this.crashSignal = null;
        this.generation += 1;
        this.kv = this.kv.reopen();
        continue;
      }
      this.crashSignal = null;
      if (outcome.kind === 'error') {
        if (outcome.error instanceof SimIoError) {
          this.step(`EIO during open: ${outcome.error.message}; restart`);
          this.stats.ioErrors += 1;
          this.storage.crash();
          this.crashKv();
          this.generation += 1;
          this.kv = this.kv.reopen();
          continue;
        }
        if (await this.corruption(outcome.error, 'open')) return;
        continue;
      }
      this.db = outcome.value as unknown as MailboxDatabase;
      // The content index crawls in the background and is then fed in slices, one per advance of the clock.
      void this.db.startIndexing();
      if (this.db.rebuiltState) {
        check(this.flipPending?.kind === 'kv', `open rebuilt the state store with no state store flip injected`);
        this.stats.kvFlipsDetected += 1;
        this.stats.kvRebuilds += 1;
        this.step(`open found the state store flip at ${this.flipPending.where} and rebuilt it from the log`);
        this.flipPending = null;
      }
      try {
        await this.checkAll(why);
      } catch (error) {
        if (error instanceof SimFailure) throw error;
        if (await this.corruption(error, 'check')) return;
        continue;
      }
      if (this.flipPending?.kind === 'kv') {
        // Every value was read (open, checks) and none failed: the flipped one was overwritten or deleted.
        this.stats.kvFlipsUnread += 1;
        this.step(`kv flip at ${this.flipPending.where} was never read (overwritten or deleted)`);
        this.flipPending = null;
      }
      return;
    }
  }

  private async race(open: Promise<MailboxDatabase>, crash: Promise<void> | null): Promise<Outcome & { value?: unknown }> {
    const wrapped = open.then(
      (value) => ({ kind: 'ok' as const, value: value as unknown as Result<unknown> }),
      (error: unknown) => ({ kind: 'error' as const, error }),
    );
    if (crash === null) return wrapped;
    return Promise.race([wrapped, crash.then(() => ({ kind: 'crashed' as const }))]);
  }

  private openDatabase(): Promise<MailboxDatabase> {
    const generation = this.generation;
    const kv = this.kv;
    let opened: MailboxDatabase | null = null;
    let kvOpens = 0;
    const promise = MailboxDatabase.open({
      name: 'DB01',
      dir: databaseDir,
      storage: this.storage,
      clock: this.clock,
      prng: seededPrng(this.engineSeed + generation),
      // A second open in one database open means the engine removed a damaged store: start empty.
      openKv: async () => {
        if (kvOpens++ === 0) return kv;
        const fresh = new MemoryKv();
        if (generation === this.generation) this.kv = fresh;
        return fresh;
      },
      logSegmentBytesMax: this.options.logSegmentBytesMax ?? 16 * 1024,
      // Small slices and a small in-memory backlog: the index lags by several rounds and reads most contents back from the store.
      indexing: { sliceDocumentsMax: 2, backlogBytesMax: 2048 },
      onBatch: (batch) => {
        if (generation !== this.generation || opened === null) return;
        this.onBatch(opened, batch);
      },
    });
    return promise.then((db) => (opened = db));
  }

  private onBatch(db: MailboxDatabase, batch: { start: number; end: number; bytes: Uint8Array }): void {
    this.stats.batches += 1;
    this.batches.set(batch.start, { end: batch.end, bytes: new Uint8Array(batch.bytes) });
    const state = db.durableState();
    check(state.position === batch.end, `durable state at ${state.position} after the batch ending at ${batch.end}`);
    this.snapshots.set(batch.end, canonicalState(state));
    this.syncedEnd = Math.max(this.syncedEnd, batch.end);
    this.observe(state, `batch ${batch.start}-${batch.end}`);
  }

  /**
   * A corruption error: the right outcome if a flip is pending (the operator's repair follows),
   * a failure otherwise. Returns true when the run is over.
   */
  private async corruption(error: unknown, where: string): Promise<boolean> {
    const kind = corruptionKind(error);
    if (kind === null) throw error;
    const message = (error as Error).message;
    check(this.flipPending !== null, `${where}: ${(error as Error).name} with no bit flip injected: ${message}`);
    check(this.flipPending.kind === kind, `${where}: ${kind} corruption reported but the flip was in the ${this.flipPending.kind} (${this.flipPending.where}): ${message}`);
    this.step(`${where}: detected ${this.flipPending.kind} flip at ${this.flipPending.where}: ${message}`);
    if (kind === 'log') {
      // This copy of the log is damaged: an operator reseeds it from another copy. The run ends here.
      this.stats.logFlipsDetected += 1;
      this.detected = `log flip at ${this.flipPending.where}: ${message}`;
      this.flipPending = null;
      return true;
    }
    // Throw the state store away and rebuild it from the log.
    this.stats.kvFlipsDetected += 1;
    this.stats.kvRebuilds += 1;
    this.flipPending = null;
    if (this.db !== null) await this.db.close().catch(() => {});
    this.db = null;
    this.generation += 1;
    this.kv = new MemoryKv();
    return false;
  }

  /** The checkers on the running database; a pending state-store flip may surface here. */
  private async readCheck(): Promise<void> {
    try {
      await this.checkAll('read check');
    } catch (error) {
      if (error instanceof SimFailure) throw error;
      await this.corruption(error, 'read check');
      await this.openChecked('rebuild state store after a flip');
    }
  }

  private async logFlip(): Promise<void> {
    const target = this.faults.below(8); // 1 in 8 the header, 1 in 8 the flush map, else a segment
    const header = target === 0;
    const mapPath = `${logDir}/${flushMapName}`;
    const flip = this.storage.flipBit(this.faults, (path) =>
      header ? path === headerPath : target === 1 ? path === mapPath : path.startsWith(logDir + '/') && path !== mapPath,
    );
    if (flip === null) return;
    this.stats.logFlips += 1;
    const name = flip.path.slice(flip.path.lastIndexOf('/') + 1);
    const flushMap = name === flushMapName;
    const position = flip.path === headerPath || flushMap ? undefined : Number(name.slice(0, name.indexOf('.'))) + flip.offset;
    // Past the log's end in its last segment: the zeros written ahead of the data (log.ts), not data.
    const zeroTail = position !== undefined && position >= this.liveDb().transactionLog().end;
    this.flipPending = { kind: 'log', where: `${flip.path}@${flip.offset} bit ${flip.bit}`, ...(position === undefined ? {} : { position }) };
    this.step(`bit flip in ${this.flipPending.where}`);
    const clean = this.faults.below(2) === 0;
    await this.restart(clean ? 'clean' : 'crash');
    if (header && clean) {
      // A clean close rewrites the header before anything reads it: the flipped copy is gone.
      if (this.detected === undefined) this.step('header flip overwritten by the clean close');
      this.flipPending = null;
      return;
    }
    if (flushMap && this.detected === undefined) {
      // The flipped slot fails its checksum and is never believed; the other slot holds the
      // previous durable end, and every checker above passed with it.
      this.stats.flushMapFlipsIgnored += 1;
      this.step('flush map flip: the slot fails its checksum, the other slot was used');
      this.flipPending = null;
      return;
    }
    if (zeroTail && this.detected === undefined) {
      this.stats.zeroTailFlipsIgnored += 1;
      this.step('flip in the zeros ahead of the log\'s end: cut with them');
      this.flipPending = null;
      return;
    }
    check(this.detected !== undefined, `log flip at ${flip.path}@${flip.offset} was not detected, yet the log is read whole by the checkers`);
  }

  private async kvFlip(): Promise<void> {
    const key = this.kv.flipBit((bound) => this.faults.below(bound));
    if (key === null) return;
    this.stats.kvFlips += 1;
    this.flipPending = { kind: 'kv', where: key };
    this.step(`bit flip in state store value ${key}`);
    // Reads may meet it now; the next open certainly reads every value but content.
    try {
      await this.checkMessages(this.liveDb());
    } catch (error) {
      if (error instanceof SimFailure) throw error;
      await this.corruption(error, 'read');
      await this.openChecked('rebuild state store after a flip');
    }
  }

  // ------------------------------------------------------------------ checkers

  private async checkAll(why: string): Promise<void> {
    const db = this.liveDb();
    this.stats.checks += 1;
    const state = db.durableState();
    const log = db.transactionLog();
    const position = state.position;
    check(position === log.end, `${why}: state at ${position} but the log ends at ${log.end}`);
    const flip = this.flipPending;
    // The flush map records how far the log was synced: a flip in an acknowledged batch is
    // corruption at open, never cut away as a torn write.
    check(
      !(flip?.kind === 'log' && flip.position !== undefined && flip.position >= position && position < this.syncedEnd),
      `${why}: log flip at ${flip?.where} in an acknowledged batch was cut as a torn tail: log ends at ${position}, was durable to ${this.syncedEnd}`,
    );
    check(position >= this.ackedEnd, `${why}: acknowledged commit lost: the log ends at ${position}, a commit was acknowledged at ${this.ackedEnd}`);
    check(position >= this.syncedEnd, `${why}: fsynced batch lost: the log ends at ${position}, a batch was durable to ${this.syncedEnd}`);
    // Batches past the end were never acknowledged and are gone: positions from here get new bytes.
    for (const [start, batch] of [...this.batches]) if (batch.end > position) this.batches.delete(start);
    for (const end of [...this.snapshots.keys()]) if (end > position) this.snapshots.delete(end);

    const live = canonicalState(state);
    const snapshot = this.snapshots.get(position);
    if (snapshot !== undefined) check(snapshot === live, `${why}: state at ${position} differs from the state the live database had at that position`);
    this.snapshots.set(position, live);

    // Every batch the log returns is the exact bytes the live database made durable.
    let expected = log.start;
    for await (const batch of log.read(log.start)) {
      check(batch.start === expected, `${why}: log batch at ${batch.start}, expected ${expected}`);
      const recorded = this.batches.get(batch.start);
      if (recorded !== undefined) check(recorded.end === batch.end && sameBytes(recorded.bytes, batch.bytes), `${why}: log batch at ${batch.start} differs from the bytes made durable`);
      expected = batch.end;
    }
    check(expected === position, `${why}: log read ends at ${expected}, not ${position}`);

    const rebuilt = await MailboxDatabase.rebuildFromLog(log, new MemoryKv());
    check(canonicalState(rebuilt) === live, `${why}: replaying the log from zero differs from the live state`);
    // The state store trails the answered batches (their writes run behind the answers).
    await db.stateSettled();
    const stored = await loadState(this.kv);
    check(canonicalState(stored) === live, `${why}: the state store differs from the live state`);

    this.observe(state, why);
    this.checkAcked(state, why);
    await this.checkMessages(db);
    await this.checkSearch(db, why);
  }

  /** Content searches give exactly the brute-force results, whatever the index holds or still has to index. */
  private async checkSearch(db: MailboxDatabase, why: string): Promise<void> {
    const textOf = (hash: string): SearchText => {
      let text = this.searchTexts.get(hash);
      if (text === undefined) {
        const bytes = this.contents.get(hash)!;
        this.searchTexts.set(hash, (text = searchText(bytes, summarize(bytes))));
      }
      return text;
    };
    const state = db.durableState();
    const samples: string[] = [];
    for (const mailbox of state.mailboxes.values()) {
      for (const folder of mailbox.folders.values()) {
        for (const message of folder.messages.slice(-3)) {
          const text = textOf(message.hash);
          samples.push(text.body, text.headers.map(([n, v]) => `${n}: ${v}`).join('\n'));
        }
      }
    }
    if (samples.length === 0) return;
    const index = db.status().searchIndex;
    for (const mailbox of [...state.mailboxes.values()]) {
      for (const folder of [...mailbox.folders.values()]) {
        if (folder.messages.length === 0) continue;
        const messages = [...folder.messages];
        const criterion = generateCriterion(this.searchPrng, samples);
        const expected = messages.filter((m) => matches(textOf(m.hash), criterion, m.prefix === undefined ? null : prefixTextOf(messagePrefix(m)))).map((m) => m.uid);
        const got = await db.search(mailbox.mailboxId, folder.name, criterion);
        check(got.ok, `${why}: search in ${mailbox.mailboxId}/${folder.name} failed: ${got.ok ? '' : got.message}`);
        check(
          JSON.stringify(got.value) === JSON.stringify(expected),
          `${why}: search ${JSON.stringify(criterion)} in ${mailbox.mailboxId}/${folder.name} (index ${index.state}, ${index.documents} indexed, ${index.backlogDocuments} waiting) gave ${JSON.stringify(got.value)}, brute force ${JSON.stringify(expected)}`,
        );
        this.stats.searches += 1;
        if (index.backlogDocuments > 0) this.stats.searchesWithBacklog += 1;
      }
    }
  }

  /** UIDNEXT and HIGHESTMODSEQ only grow per folder incarnation; a UID never names two emails. */
  private observe(state: DatabaseState, why: string): void {
    for (const mailbox of state.mailboxes.values()) {
      for (const folder of mailbox.folders.values()) {
        const key = `${mailbox.mailboxId}/${folder.folderId}/${folder.uidValidity}`;
        const high = this.folderHighs.get(key);
        if (high !== undefined) {
          check(folder.uidNext >= high.uidNext, `${why}: UIDNEXT of ${key} went from ${high.uidNext} down to ${folder.uidNext}`);
          check(folder.modseqHighest >= high.modseqHighest, `${why}: HIGHESTMODSEQ of ${key} went from ${high.modseqHighest} down to ${folder.modseqHighest}`);
        }
        this.folderHighs.set(key, { uidNext: folder.uidNext, modseqHighest: folder.modseqHighest });
        for (const message of folder.messages) {
          check(message.uid < folder.uidNext, `${why}: UID ${message.uid} in ${key} not below UIDNEXT ${folder.uidNext}`);
          const uidKey = `${key}/${message.uid}`;
          const owner = this.uidOwners.get(uidKey);
          check(owner === undefined || owner === message.emailId, `${why}: UID ${uidKey} reused: was ${owner}, now ${message.emailId}`);
          this.uidOwners.set(uidKey, message.emailId);
        }
      }
    }
  }

  /** Every acknowledged append is still there, unless its folder or mailbox is gone or the log says it was expunged. */
  private checkAcked(state: DatabaseState, why: string): void {
    for (const acked of this.ackedAppends) {
      const mailbox = state.mailboxes.get(acked.mailboxId);
      if (mailbox === undefined) continue;
      const folder = [...mailbox.folders.values()].find((f) => f.uidValidity === acked.uidValidity);
      if (folder === undefined) continue;
      const message = folder.messages.find((m) => m.uid === acked.uid);
      if (message === undefined) {
        check(folder.expunged.some((e) => e.uid === acked.uid), `${why}: acknowledged message ${acked.mailboxId}/${folder.name} UID ${acked.uid} vanished without an expunge`);
        continue;
      }
      check(message.emailId === acked.emailId && message.hash === acked.hash, `${why}: acknowledged UID ${acked.uid} of ${acked.mailboxId}/${folder.name} now holds ${message.emailId}, was ${acked.emailId}`);
    }
  }

  /** Every message reads back as exactly the bytes appended, and its summary reads. */
  private async checkMessages(db: MailboxDatabase): Promise<void> {
    const state = db.durableState();
    for (const mailbox of [...state.mailboxes.values()]) {
      for (const folder of [...mailbox.folders.values()]) {
        for (const message of [...folder.messages]) {
          const read = await db.readMessage(mailbox.mailboxId, folder.name, message.uid);
          check(read.ok, `readMessage ${mailbox.mailboxId}/${folder.name}/${message.uid} failed: ${read.ok ? '' : read.message}`);
          const original = this.contents.get(message.hash);
          check(original !== undefined, `message ${mailbox.mailboxId}/${folder.name}/${message.uid} has content ${message.hash} nobody appended`);
          const expected = message.prefix === undefined ? original : new Uint8Array([...messagePrefix(message), ...original]);
          check(sameBytes(read.value, expected), `readMessage ${mailbox.mailboxId}/${folder.name}/${message.uid} returned other bytes than appended`);
          this.stats.messagesRead += 1;
        }
        // And their MIME summaries (searches and the content index read them, so a flip there is met too).
        const uids = folder.messages.map((m) => m.uid);
        for (let i = 0; i < uids.length; i += summariesPerCallMax) {
          const summaries = await db.summaries(mailbox.mailboxId, folder.name, uids.slice(i, i + summariesPerCallMax));
          check(summaries.ok, `summaries of ${mailbox.mailboxId}/${folder.name} failed: ${summaries.ok ? '' : summaries.message}`);
        }
      }
    }
  }
}

/** Runs one seed. Never throws: a failure comes back as `{ ok: false, failure }` with the step log. */
export async function runSeed(seed: number, options: SimOptions = {}): Promise<SimResult> {
  return new Simulation(seed, options).run();
}

export function formatFailure(result: SimResult): string {
  return [
    `SIM FAILURE seed=${result.seed}: ${result.failure}`,
    `reproduce: SIM_SEED=${result.seed} node dist/engine/sim/sim.test.js`,
    'last steps:',
    ...result.stepLog.map((line) => `  ${line}`),
  ].join('\n');
}
