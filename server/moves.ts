// Mailbox moves (Exchange's MoveRequest, reduced): `quire move ADDRESS --to DB` copies a mailbox
// to another database while its user keeps working, then switches the directory over.
//
//   copying ──► catching-up ──► locked ──► switched ──► done
//      └────────────┴──────────────┴──► cancelled | failed      (before the switch only)
//
// 1. The target mailbox is created empty and "importing" (same mailbox id, no default folders).
//    Every folder is created with the source's folder id and UIDVALIDITY, every message appended
//    with its UID, flags, internal date, modseq, email id and thread id, and each folder takes the
//    source's UIDNEXT, HIGHESTMODSEQ and expunge history (importFolder). So a client's cached
//    UIDs, its QRESYNC (UIDVALIDITY, HIGHESTMODSEQ), IMAP OBJECTIDs (MAILBOXID, EMAILID,
//    THREADID) and JMAP ids and states stay valid, and no expunged UID is ever reused. The
//    account documents (JMAP identities, submissions, the vacation response and whom it
//    answered) are copied with their modseqs, and each kind takes the source's state and
//    destroyed history (importDocuments), so JMAP states and changes carry over too.
// 2. Catch-up rounds read only the folders whose HIGHESTMODSEQ moved, and in them only what
//    changed (listMessages changedSince, with the vanished UIDs). The source's change feed
//    (watch) counts the changes a round has not copied yet; when few are left, or when rounds
//    stop gaining on a steady stream of changes, the lock follows.
// 3. The final lock refuses writes to the source mailbox with IN_USE (retriable: IMAP
//    NO [INUSE], SMTP 451) and waits for the writes already admitted; a last round copies what
//    changed, every folder's counters are compared (and the folders that round touched message by
//    message), and the target stops importing, with the source's highest modseq (finishImport).
// 4. The directory points the user at the target database; the open sessions of the mailbox are
//    told to reconnect (SessionLease.onMoved: IMAP BYE [UNAVAILABLE], POP3 -ERR [SYS/TEMP], JMAP
//    push closed), and the source mailbox is deleted. The lock's length is kept in `lockMs`.
//
// The move's state is a JSON file in the data directory, written (temp file, fsync, rename)
// at every change of state. A server that restarts resumes each unfinished move: before the
// switch the copy is re-synchronized from a full comparison (idempotent), after it the source
// deletion is finished. A database that restarts under a move (DATABASE_UNAVAILABLE) is waited
// for and the copy re-synchronized the same way. Every step is a diff of the two mailboxes, so
// nothing is lost or doubled.

import { readFileSync } from 'node:fs';
import { type CommitResult, type DocumentListing, type FolderInfo, type FolderListing, type MailboxApi, type MailboxChange, type MessageInfo, type TxOp, splitMessage } from '../engine/api.js';
import type { Directory } from '../engine/directory/index.js';
import { errorCatalogue, fail, ok, type ErrorCode, type Result } from '../engine/errors.js';
import { writeFileDurably } from './paths.js';

export type MoveState = 'copying' | 'catching-up' | 'locked' | 'switched' | 'done' | 'cancelled' | 'failed';

export interface MoveRecord {
  readonly id: string;
  readonly address: string;
  readonly mailboxId: string;
  readonly from: string;
  readonly to: string;
  state: MoveState;
  startedAtMs: number;
  updatedAtMs: number;
  /** Messages the move appended to the target (over every round, restarts included). */
  messagesCopied: number;
  /** Catch-up rounds after the initial copy. */
  rounds: number;
  /** Messages in the source when last counted. */
  messagesTotal: number;
  /** Changes (appends, flag changes, expunges, folder changes) the last round copied. */
  lastRoundChanges?: number;
  /** How long the final lock refused writes, from taking it to the switch (set at the switch). */
  lockMs?: number;
  /** Open sessions of the mailbox told to reconnect at the switch. */
  sessionsTold?: number;
  /** Times the move waited for a database that was restarting (DATABASE_UNAVAILABLE) and re-synchronized. */
  retries?: number;
  error?: string;
}

/** Limits of a move, units last. */
export const moveLimits = {
  /** Operations per target transaction. */
  transactionOpsMax: 256,
  /** Message bytes per target transaction. */
  transactionBytesMax: 16 * 1024 * 1024,
  /** A catch-up round that changes at most this many things ends the catch-up: the lock follows. */
  catchUpChangesMax: 8,
  /** Message reads a copy keeps in flight (each is one IPC round trip to the source worker). */
  readsInFlightMax: 32,
  /** Catch-up rounds before the lock is taken anyway. */
  catchUpRoundsMax: 20,
  /** Moves remembered in the listing (the finished ones beyond are dropped, oldest first). */
  movesKeptMax: 200,
  /** A move waits this long between attempts while a database restarts. */
  retryDelayMs: 500,
  /** ... and fails after this long without a round completing. */
  retryMsMax: 120_000,
} as const;

const terminal = new Set<MoveState>(['done', 'cancelled', 'failed']);

export interface MoveManagerOptions {
  /** The file the moves are kept in (DIR/moves.json). */
  readonly path: string;
  readonly directory: Directory;
  /** The databases' own APIs (not guarded by the move lock). */
  readonly apiFor: (database: string) => MailboxApi;
  readonly databases: readonly string[];
  readonly nowMs: () => number;
  readonly newId: () => string;
  readonly log: (line: string) => void;
  /** Tells the open sessions of a mailbox that it moved (FrontEndContext's SessionLease.onMoved); answers how many. */
  readonly sessionsMoved?: (mailboxId: string) => number;
}

class Cancelled extends Error {}

/** A failure of a database call; `retriable` (a database restarting) makes the move wait and re-synchronize. */
class MoveError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
  ) {
    super(message);
  }
}

/** Runs mailbox moves and holds the write lock of their final step. */
export class MoveManager {
  private readonly moves: MoveRecord[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private readonly cancelling = new Set<string>();
  /** `database/mailboxId` → writes admitted and not answered yet. */
  private readonly inflight = new Map<string, number>();
  private readonly locked = new Set<string>();
  private readonly drained = new Map<string, Array<() => void>>();
  private readonly observers = new Set<(move: MoveRecord) => void | Promise<void>>();

  constructor(private readonly options: MoveManagerOptions) {
    try {
      const saved = JSON.parse(readFileSync(options.path, 'utf8')) as { moves: MoveRecord[] };
      this.moves.push(...saved.moves);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** Resumes every unfinished move (at server start). */
  resume(): void {
    for (const move of this.moves) {
      if (!terminal.has(move.state)) {
        this.options.log(`move ${move.id} of ${move.address}: resuming (was ${move.state})`);
        this.run(move);
      }
    }
  }

  /**
   * Calls `listener` under each move's final lock, after the copy is verified and just before the
   * switch (the tests compare the source there with the target after the move). Returns the unsubscribe.
   */
  observe(listener: (move: MoveRecord) => void | Promise<void>): () => void {
    this.observers.add(listener);
    return () => this.observers.delete(listener);
  }

  list(): MoveRecord[] {
    return this.moves.map((m) => ({ ...m }));
  }

  get(id: string): MoveRecord | null {
    const move = this.moves.find((m) => m.id === id);
    return move === undefined ? null : { ...move };
  }

  /** Resolves when the move reaches a final state. */
  async wait(id: string): Promise<MoveRecord | null> {
    await this.running.get(id);
    return this.get(id);
  }

  async start(addressInput: string, to: string): Promise<Result<MoveRecord>> {
    if (!this.options.databases.includes(to)) return fail('NO_SUCH_DATABASE', `no database ${to}`);
    const user = await this.options.directory.findUser(addressInput);
    if (user === null || user.address !== addressInput.trim().toLowerCase()) return fail('NO_SUCH_USER', `no user ${addressInput}`);
    if (user.database === to) return fail('INVALID_ARGUMENT', `${user.address} is already in ${to}`);
    if (this.moves.some((m) => m.mailboxId === user.mailboxId && !terminal.has(m.state))) return fail('IN_USE', `${user.address} is already being moved`);
    const now = this.options.nowMs();
    const move: MoveRecord = { id: this.options.newId(), address: user.address, mailboxId: user.mailboxId, from: user.database, to, state: 'copying', startedAtMs: now, updatedAtMs: now, messagesCopied: 0, rounds: 0, messagesTotal: 0 };
    this.moves.push(move);
    const kept = this.moves.filter((m) => terminal.has(m.state));
    for (const old of kept.slice(0, Math.max(0, this.moves.length - moveLimits.movesKeptMax))) this.moves.splice(this.moves.indexOf(old), 1);
    this.save();
    this.run(move);
    return ok({ ...move });
  }

  /** Cancels a move before its switch; the target copy is deleted. */
  cancel(id: string): Result<MoveRecord> {
    const move = this.moves.find((m) => m.id === id || m.address === id.toLowerCase() && !terminal.has(m.state));
    if (move === undefined) return fail('INVALID_ARGUMENT', `no move ${id}`);
    if (terminal.has(move.state)) return fail('INVALID_ARGUMENT', `move ${move.id} is already ${move.state}`);
    if (move.state === 'switched') return fail('INVALID_ARGUMENT', `move ${move.id} has switched; it can no longer be cancelled`);
    this.cancelling.add(move.id);
    return ok({ ...move });
  }

  /** Waits for every running move to stop at its next step (server stop); unfinished moves resume at the next start. */
  async stop(): Promise<void> {
    for (const id of this.running.keys()) this.cancelling.add(`stop:${id}`);
    await Promise.allSettled([...this.running.values()]);
  }

  /** The API front ends get for a database: writes to a mailbox in a move's final lock answer IN_USE. */
  guard(database: string, api: MailboxApi): MailboxApi {
    const manager = this;
    return {
      mailbox: (id) => api.mailbox(id),
      folders: (id) => api.folders(id),
      sharedFolders: (identifier) => api.sharedFolders(identifier),
      listMessages: (id, folder, options) => api.listMessages(id, folder, options),
      listMessageColumns: (id, folder, options) => api.listMessageColumns(id, folder, options),
      readMessage: (id, folder, uid) => api.readMessage(id, folder, uid),
      summaries: (id, folder, uids) => api.summaries(id, folder, uids),
      readPart: (id, folder, uid, section, options) => api.readPart(id, folder, uid, section, options),
      bodyValues: (id, folder, uid, partIds, options) => api.bodyValues(id, folder, uid, partIds, options),
      search: (id, folder, criterion, options) => api.search(id, folder, criterion, options),
      documents: (id, kind, options) => api.documents(id, kind, options),
      watch: (id, listener: (change: MailboxChange) => void) => api.watch(id, listener),
      async commitMany(requests): Promise<Array<Result<CommitResult>>> {
        // Each request on its own: one for a mailbox being moved answers IN_USE, the others go on.
        const locked = requests.map((request) => manager.locked.has(`${database}/${request.mailboxId}`));
        const admitted = requests.filter((_, i) => !locked[i]);
        const keys = admitted.map((request) => manager.admit(`${database}/${request.mailboxId}`));
        try {
          const committed = admitted.length === 0 ? [] : await api.commitMany(admitted);
          let next = 0;
          return requests.map((_, i) => (locked[i] ? fail('IN_USE', 'the mailbox is being moved to another database; try again in a moment') : committed[next++]!));
        } finally {
          for (const key of keys) manager.leave(key);
        }
      },
      async commit(request): Promise<Result<CommitResult>> {
        const key = `${database}/${request.mailboxId}`;
        if (manager.locked.has(key)) return fail('IN_USE', 'the mailbox is being moved to another database; try again in a moment');
        manager.admit(key);
        try {
          return await api.commit(request);
        } finally {
          manager.leave(key);
        }
      },
    };
  }

  /** A write to `key` (database/mailboxId) admitted past the move lock. */
  private admit(key: string): string {
    this.inflight.set(key, (this.inflight.get(key) ?? 0) + 1);
    return key;
  }

  /** That write answered: the lock's drain waits for none left. */
  private leave(key: string): void {
    const left = this.inflight.get(key)! - 1;
    if (left > 0) this.inflight.set(key, left);
    else {
      this.inflight.delete(key);
      for (const resolve of this.drained.get(key) ?? []) resolve();
      this.drained.delete(key);
    }
  }

  private run(move: MoveRecord): void {
    const done = this.drive(move).finally(() => this.running.delete(move.id));
    this.running.set(move.id, done);
  }

  private checkpoint(move: MoveRecord): void {
    if (this.cancelling.has(`stop:${move.id}`)) throw new Cancelled('server stopping');
    if (this.cancelling.has(move.id) && move.state !== 'switched') throw new Cancelled('cancelled');
  }

  private setState(move: MoveRecord, state: MoveState, error?: string): void {
    move.state = state;
    move.updatedAtMs = this.options.nowMs();
    if (error !== undefined) move.error = error;
    this.save();
    this.options.log(`move ${move.id} of ${move.address} ${move.from} → ${move.to}: ${state}${error === undefined ? '' : ` (${error})`}`);
  }

  private async drive(move: MoveRecord): Promise<void> {
    const source = this.options.apiFor(move.from);
    const target = this.options.apiFor(move.to);
    const lockKey = `${move.from}/${move.mailboxId}`;
    let progressMs = this.options.nowMs();
    try {
      for (;;) {
        try {
          await this.attempt(move, source, target, lockKey, () => (progressMs = this.options.nowMs()));
          break;
        } catch (error) {
          this.locked.delete(lockKey);
          if (!(error instanceof MoveError) || !error.retriable || move.state === 'switched') throw error;
          if (this.options.nowMs() - progressMs > moveLimits.retryMsMax) throw new Error(`gave up after ${moveLimits.retryMsMax} ms without progress: ${error.message}`);
          move.retries = (move.retries ?? 0) + 1;
          this.options.log(`move ${move.id} of ${move.address}: ${error.message}; retrying`);
          if (move.state === 'locked') this.setState(move, 'catching-up');
          await new Promise((resolve) => setTimeout(resolve, moveLimits.retryDelayMs));
          this.checkpoint(move);
        }
      }
      const deleted = await source.commit({ mailboxId: move.mailboxId, ops: [{ op: 'deleteMailbox', address: move.address }] });
      if (!deleted.ok && deleted.code !== 'NO_SUCH_MAILBOX') throw new Error(`deleting the source: ${deleted.message}`);
      this.locked.delete(lockKey);
      this.setState(move, 'done');
    } catch (error) {
      this.locked.delete(lockKey);
      if (error instanceof Cancelled && error.message === 'server stopping') return;
      const cancelled = error instanceof Cancelled;
      if (move.state !== 'switched') {
        // Before the switch the source is the mailbox: the target copy is dropped.
        const info = await target.mailbox(move.mailboxId);
        if (info.ok) await target.commit({ mailboxId: move.mailboxId, ops: [{ op: 'deleteMailbox', address: info.value.address }] });
      }
      this.setState(move, cancelled ? 'cancelled' : 'failed', cancelled ? undefined : (error as Error).message);
    } finally {
      this.cancelling.delete(move.id);
    }
  }

  /** Copies, catches up, locks, verifies and switches (from wherever `move.state` says it is). */
  private async attempt(move: MoveRecord, source: MailboxApi, target: MailboxApi, lockKey: string, progressed: () => void): Promise<void> {
    if (move.state === 'locked') {
      // A restart during the lock: the switch may have happened before the state was saved.
      const user = await this.options.directory.findUser(move.address);
      if (user?.database === move.to) this.setState(move, 'switched');
    }
    if (move.state === 'switched') return;
    // The change feed counts what the source changed since a round began: what the next round has to copy.
    let pending = 0;
    const unwatch = source.watch(move.mailboxId, (change) => {
      pending += (change.hierarchyChanged ? 1 : 0) + (change.documents?.length ?? 0);
      for (const folder of change.folders) pending += folder.appended.length + folder.expunged.length + folder.flagged.length;
    });
    try {
      const copier = new Copier(move, source, target);
      await copier.prepare();
      this.checkpoint(move);
      pending = 0;
      move.lastRoundChanges = await copier.round();
      progressed();
      if (move.state === 'copying') this.setState(move, 'catching-up');
      // Lock when little is left, or when rounds stop gaining on a steady stream of changes (more
      // rounds would not shorten the lock: each leaves as much behind as the last).
      let pendingBefore = Number.POSITIVE_INFINITY;
      for (;;) {
        this.checkpoint(move);
        if (pending <= moveLimits.catchUpChangesMax || pending >= pendingBefore || move.rounds >= moveLimits.catchUpRoundsMax) break;
        pendingBefore = pending;
        pending = 0;
        move.rounds += 1;
        move.lastRoundChanges = await copier.round();
        move.updatedAtMs = this.options.nowMs();
        progressed();
      }
      this.checkpoint(move);
      this.locked.add(lockKey);
      let lockedAtMs = this.options.nowMs();
      this.setState(move, 'locked');
      await this.drain(lockKey);
      this.checkpoint(move);
      move.lastRoundChanges = await copier.round();
      await copier.verify();
      await copier.finish();
      const observedAtMs = this.options.nowMs();
      for (const observer of this.observers) await observer({ ...move });
      lockedAtMs += this.options.nowMs() - observedAtMs; // the observers' time is not the lock's
      this.checkpoint(move);
      const switched = await this.options.directory.setDatabase(move.address, move.to);
      if (!switched.ok) throw new Error(`directory: ${switched.message}`);
      move.lockMs = this.options.nowMs() - lockedAtMs;
      this.setState(move, 'switched');
    } finally {
      unwatch();
    }
    // New logins reach the target from here; the sessions still on the source are told to reconnect.
    move.sessionsTold = this.options.sessionsMoved?.(move.mailboxId) ?? 0;
  }

  private drain(key: string): Promise<void> {
    if ((this.inflight.get(key) ?? 0) === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiting = this.drained.get(key) ?? [];
      waiting.push(resolve);
      this.drained.set(key, waiting);
    });
  }

  private save(): void {
    writeFileDurably(this.options.path, JSON.stringify({ moves: this.moves }));
  }
}

function unwrap<T>(result: Result<T>, what: string): T {
  if (!result.ok) throw new MoveError(`${what}: ${result.code} ${result.message}`, errorCatalogue[result.code as ErrorCode]?.retriable === true);
  return result.value;
}

const sameFlags = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((f) => b.includes(f));

/** What the target holds of a source folder: its state as of this HIGHESTMODSEQ and UIDNEXT. */
interface Synced {
  readonly modseq: number;
  readonly uidNext: number;
}

/** One move's copy: each round makes the target equal to the source as read in that round. */
class Copier {
  /** Per source folder (by UIDVALIDITY): what the target is complete up to. */
  private readonly synced = new Map<number, Synced>();
  /** Per account document kind: the source's state the target holds. */
  private readonly documentsSynced = new Map<string, number>();
  /** Folders (by UIDVALIDITY) the last round changed: verify compares them message by message. */
  private readonly touched = new Set<number>();
  private quotaBytes: number | null = null;

  constructor(private readonly move: MoveRecord, private readonly source: MailboxApi, private readonly target: MailboxApi) {}

  async prepare(): Promise<void> {
    const info = unwrap(await this.source.mailbox(this.move.mailboxId), 'reading the source mailbox');
    this.quotaBytes = info.quotaBytes;
    const existing = await this.target.mailbox(this.move.mailboxId);
    if (existing.ok && existing.value.importing === true) return; // a resumed move: the next round compares everything
    if (existing.ok) {
      // Finished importing but never switched (a restart between the two): copy again from scratch.
      unwrap(await this.target.commit({ mailboxId: this.move.mailboxId, ops: [{ op: 'deleteMailbox', address: existing.value.address }] }), 'dropping an unswitched target');
    } else if (existing.code !== 'NO_SUCH_MAILBOX') unwrap(existing, 'reading the target');
    // No quota on the copy until the switch: the source is already within it.
    unwrap(await this.target.commit({ mailboxId: this.move.mailboxId, ops: [{ op: 'createMailbox', address: info.address, quotaBytes: null, imported: true }] }), 'creating the target mailbox');
  }

  private async commit(ops: TxOp[]): Promise<void> {
    if (ops.length === 0) return;
    unwrap(await this.target.commit({ mailboxId: this.move.mailboxId, ops }), 'writing the target');
  }

  /** Brings the folder tree of the target to the source's (folders matched by UIDVALIDITY); answers the target's folders and the changes made. */
  private async hierarchy(sourceFolders: readonly FolderInfo[]): Promise<{ targetFolders: FolderInfo[]; changes: number }> {
    const id = this.move.mailboxId;
    let targetFolders = unwrap(await this.target.folders(id), 'listing target folders');
    let changes = 0;
    const wanted = new Set(sourceFolders.map((f) => f.uidValidity));
    // Deepest first, so a parent is never deleted before its children.
    for (const gone of targetFolders.filter((f) => !wanted.has(f.uidValidity)).sort((a, b) => b.name.length - a.name.length)) {
      await this.commit([{ op: 'deleteFolder', name: gone.name }]);
      this.synced.delete(gone.uidValidity);
      changes += 1;
    }
    // In creation order (UIDVALIDITY and folder id both grow with it), so given folder ids keep growing.
    for (const folder of [...sourceFolders].sort((a, b) => a.uidValidity - b.uidValidity)) {
      const twin = targetFolders.find((f) => f.uidValidity === folder.uidValidity);
      if (twin === undefined) {
        await this.commit([{ op: 'createFolder', name: folder.name, specialUse: folder.specialUse, uidValidity: folder.uidValidity, folderId: folder.folderId }]);
      } else if (twin.name !== folder.name) {
        await this.commit([{ op: 'renameFolder', from: twin.name, to: folder.name }]);
        // A renamed parent renames its children too: read the tree again before the next one.
        targetFolders = unwrap(await this.target.folders(id), 'listing target folders');
      } else continue;
      changes += 1;
    }
    if (changes > 0) targetFolders = unwrap(await this.target.folders(id), 'listing target folders');
    const subscriptions: TxOp[] = [];
    for (const folder of sourceFolders) {
      const twin = targetFolders.find((f) => f.uidValidity === folder.uidValidity);
      if (twin === undefined) continue;
      if (twin.subscribed !== folder.subscribed) subscriptions.push({ op: 'subscribe', name: folder.name, subscribed: folder.subscribed });
      // Sharing (RFC 4314 ACL) and mail-enabled addresses go with the folder.
      const want = folder.acl ?? {};
      const have = twin.acl ?? {};
      for (const identifier of new Set([...Object.keys(want), ...Object.keys(have)])) {
        if (want[identifier] !== have[identifier]) subscriptions.push({ op: 'setAcl', folder: folder.name, identifier, rights: want[identifier] ?? null });
      }
      if ((folder.address ?? null) !== (twin.address ?? null)) subscriptions.push({ op: 'setFolderAddress', folder: folder.name, address: folder.address ?? null });
    }
    await this.commit(subscriptions);
    return { targetFolders, changes: changes + subscriptions.length };
  }

  /** One pass over the folders whose HIGHESTMODSEQ moved since the last; answers how many changes it made to the target. */
  async round(): Promise<number> {
    const id = this.move.mailboxId;
    const sourceFolders = unwrap(await this.source.folders(id), 'listing source folders');
    const { targetFolders, changes: hierarchyChanges } = await this.hierarchy(sourceFolders);
    let changes = hierarchyChanges;
    let total = 0;
    this.touched.clear();
    for (const folder of sourceFolders) {
      total += folder.messages;
      const synced = this.synced.get(folder.uidValidity);
      const twin = targetFolders.find((f) => f.uidValidity === folder.uidValidity);
      if (synced !== undefined && synced.modseq === folder.modseqHighest && twin?.modseqHighest === folder.modseqHighest) continue;
      changes += await this.folder(folder, synced);
      this.touched.add(folder.uidValidity);
    }
    this.move.messagesTotal = total;
    return changes + (await this.documents());
  }

  /** Copies the account documents of each kind whose state moved since the last round; answers how many changes it made. */
  private async documents(): Promise<number> {
    const id = this.move.mailboxId;
    const sourceKinds = unwrap(await this.source.mailbox(id), 'reading the source mailbox').documents ?? {};
    const targetKinds = unwrap(await this.target.mailbox(id), 'reading the target mailbox').documents ?? {};
    let changes = 0;
    for (const [kind, state] of Object.entries(sourceKinds)) {
      if (this.documentsSynced.get(kind) === state && targetKinds[kind] === state) continue;
      const from = unwrap(await this.source.documents(id, kind), `reading the ${kind} documents`);
      const to = unwrap(await this.target.documents(id, kind), `reading the target's ${kind} documents`);
      const have = new Map(to.documents.map((d) => [d.id, d]));
      const wanted = new Set(from.documents.map((d) => d.id));
      let ops: TxOp[] = to.documents.filter((d) => !wanted.has(d.id)).map((d): TxOp => ({ op: 'destroyDocument', kind, id: d.id }));
      let bytes = 0;
      for (const document of from.documents) {
        const twin = have.get(document.id);
        if (twin !== undefined && twin.modseq === document.modseq && twin.createdModseq === document.createdModseq) continue;
        ops.push({ op: 'setDocument', kind, id: document.id, value: document.value, modseq: document.modseq, createdModseq: document.createdModseq });
        bytes += JSON.stringify(document.value).length;
        if (ops.length >= moveLimits.transactionOpsMax - 1 || bytes >= moveLimits.transactionBytesMax) {
          changes += ops.length;
          await this.commit(ops);
          ops = [];
          bytes = 0;
        }
      }
      changes += ops.length;
      ops.push({ op: 'importDocuments', kind, modseqHighest: from.modseqHighest, destroyed: from.destroyed, destroyedDroppedModseq: from.destroyedDroppedModseq });
      await this.commit(ops);
      this.documentsSynced.set(kind, from.modseqHighest);
    }
    return changes;
  }

  /** Copies one folder's changes since `synced` (everything, compared with the target, when undefined). */
  private async folder(folder: FolderInfo, synced: Synced | undefined): Promise<number> {
    const id = this.move.mailboxId;
    const listing = await this.source.listMessages(id, folder.name, synced === undefined ? { history: true } : { changedSince: synced.modseq, history: true });
    if (!listing.ok && listing.code === 'NO_SUCH_FOLDER') return 0; // deleted or renamed meanwhile: the next round sees it
    const changed = unwrap(listing, `listing ${folder.name}`);
    if (changed.folder.uidValidity !== folder.uidValidity) return 0; // recreated meanwhile: the next round sees it
    // The target's messages: listed when nothing is known of it, else known from the last round.
    const present = synced === undefined || changed.vanishedIncomplete === true ? await this.targetMessages(folder.name) : null;
    const inSource = new Set(changed.messages.map((m) => m.uid));
    const gone = present !== null ? [...present.keys()].filter((uid) => !inSource.has(uid)) : changed.vanished;
    let ops: TxOp[] = gone.length > 0 ? [{ op: 'expunge', folder: folder.name, uids: gone }] : [];
    let changes = gone.length;
    let bytes = 0;
    // New messages' bytes are read ahead, readsInFlightMax at a time (one IPC round trip each).
    const reads = new Map<number, Promise<Result<Uint8Array>>>();
    const newUids = changed.messages.filter((m) => (present !== null ? !present.has(m.uid) : m.uid >= synced!.uidNext)).map((m) => m.uid);
    let readNext = 0;
    const readAhead = (): void => {
      while (readNext < newUids.length && reads.size < moveLimits.readsInFlightMax) {
        const uid = newUids[readNext++]!;
        reads.set(uid, this.source.readMessage(id, folder.name, uid));
      }
    };
    for (const message of changed.messages) {
      const known = present !== null ? present.get(message.uid) : message.uid < synced!.uidNext ? null : undefined;
      if (known !== undefined) {
        if (known !== null && known.modseq === message.modseq && sameFlags(known.flags, message.flags)) continue;
        ops.push({ op: 'store', folder: folder.name, uids: [message.uid], mode: 'set', flags: message.flags, modseq: message.modseq });
      } else {
        readAhead();
        const content = await reads.get(message.uid)!;
        reads.delete(message.uid);
        if (!content.ok && content.code === 'NO_SUCH_MESSAGE') continue; // expunged meanwhile: the next round sees it vanish
        const data = unwrap(content, `reading ${folder.name} UID ${message.uid}`);
        ops.push({ op: 'append', folder: folder.name, ...splitMessage(data, message.prefixBytes), flags: message.flags, internalDateMs: message.internalDateMs, uid: message.uid, modseq: message.modseq, emailId: message.emailId, threadId: message.threadId });
        bytes += data.length;
        this.move.messagesCopied += 1;
      }
      changes += 1;
      if (ops.length >= moveLimits.transactionOpsMax - 1 || bytes >= moveLimits.transactionBytesMax) {
        await this.commit(ops);
        ops = [];
        bytes = 0;
      }
    }
    ops.push(importFolderOp(folder.name, changed));
    await this.commit(ops);
    this.synced.set(folder.uidValidity, { modseq: changed.folder.modseqHighest, uidNext: changed.folder.uidNext });
    return changes;
  }

  private async targetMessages(folder: string): Promise<Map<number, MessageInfo>> {
    const listing = unwrap(await this.target.listMessages(this.move.mailboxId, folder), `listing target ${folder}`);
    return new Map(listing.messages.map((m) => [m.uid, m]));
  }

  /**
   * Under the lock: every folder's counters must be the source's (UIDVALIDITY, folder id, UIDNEXT,
   * HIGHESTMODSEQ, messages, unseen, size, subscription, ACL, address), and the folders the last round touched
   * the same message by message (UID, modseq, flags, ids, date, size).
   */
  async verify(): Promise<void> {
    const id = this.move.mailboxId;
    const sourceFolders = unwrap(await this.source.folders(id), 'listing source folders');
    const targetFolders = unwrap(await this.target.folders(id), 'listing target folders');
    if (sourceFolders.length !== targetFolders.length) throw new Error(`verify: ${sourceFolders.length} source folders, ${targetFolders.length} target folders`);
    const acl = (f: FolderInfo) => Object.entries(f.acl ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
    const counters = (f: FolderInfo | undefined) => f === undefined ? 'none' : JSON.stringify([f.name, f.folderId, f.uidValidity, f.uidNext, f.modseqHighest, f.messages, f.unseen, f.sizeBytes, f.subscribed, f.specialUse, acl(f), f.address ?? null]);
    for (const folder of sourceFolders) {
      const twin = targetFolders.find((f) => f.uidValidity === folder.uidValidity);
      if (counters(twin) !== counters(folder)) throw new Error(`verify: folder ${folder.name} differs: ${counters(folder)} vs ${counters(twin)}`);
      if (!this.touched.has(folder.uidValidity)) continue;
      const a = unwrap(await this.source.listMessages(id, folder.name, { changedSince: 0, history: true }), `listing ${folder.name}`);
      const b = unwrap(await this.target.listMessages(id, folder.name, { changedSince: 0, history: true }), `listing target ${folder.name}`);
      const message = (m: MessageInfo) => JSON.stringify([m.uid, m.modseq, [...m.flags].sort(), m.emailId, m.threadId, m.internalDateMs, m.sizeBytes]);
      const same = a.messages.length === b.messages.length && a.messages.every((m, i) => message(m) === message(b.messages[i]!));
      if (!same || JSON.stringify([a.expunged, a.expungedDroppedModseq]) !== JSON.stringify([b.expunged, b.expungedDroppedModseq])) throw new Error(`verify: messages of ${folder.name} differ`);
    }
    // Every account document, with its modseqs, and each kind's state and destroyed history.
    const sourceKinds = unwrap(await this.source.mailbox(id), 'reading the source mailbox').documents ?? {};
    const targetKinds = unwrap(await this.target.mailbox(id), 'reading the target mailbox').documents ?? {};
    if (JSON.stringify(Object.entries(sourceKinds).sort()) !== JSON.stringify(Object.entries(targetKinds).sort())) throw new Error('verify: the account document kinds differ');
    const canonical = (l: DocumentListing) => JSON.stringify([l.modseqHighest, [...l.documents].sort((x, y) => (x.id < y.id ? -1 : 1)), l.destroyed, l.destroyedDroppedModseq]);
    for (const kind of Object.keys(sourceKinds)) {
      const a = unwrap(await this.source.documents(id, kind), `reading the ${kind} documents`);
      const b = unwrap(await this.target.documents(id, kind), `reading the target's ${kind} documents`);
      if (canonical(a) !== canonical(b)) throw new Error(`verify: the ${kind} documents differ`);
    }
  }

  /** Under the lock, after verify: the target takes the source's highest modseq and quota and stops importing. */
  async finish(): Promise<void> {
    const id = this.move.mailboxId;
    const info = unwrap(await this.source.mailbox(id), 'reading the source mailbox');
    await this.commit([{ op: 'finishImport', modseqHighest: info.modseqHighest }]);
    if (this.quotaBytes !== null) await this.commit([{ op: 'setQuota', quotaBytes: this.quotaBytes }]);
  }
}

function importFolderOp(name: string, listing: FolderListing): TxOp {
  return {
    op: 'importFolder',
    folder: name,
    uidNext: listing.folder.uidNext,
    modseqHighest: listing.folder.modseqHighest,
    expunged: listing.expunged ?? [],
    expungedDroppedModseq: listing.expungedDroppedModseq ?? 0,
  };
}
