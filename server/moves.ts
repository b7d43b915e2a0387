// Mailbox moves (Exchange's MoveRequest, reduced): `quire move ADDRESS --to DB` copies a mailbox
// to another database while its user keeps working, then switches the directory over.
//
//   copying ──► catching-up ──► locked ──► switched ──► done
//      └────────────┴──────────────┴──► cancelled | failed      (before the switch only)
//
// 1. The target mailbox is created empty (same mailbox id, no default folders); every folder is
//    created with the source's UIDVALIDITY, every message appended with its UID, flags and
//    internal date, and each folder's UIDNEXT raised to the source's: a client's cached UIDs
//    stay valid, and no expunged UID is ever reused.
// 2. Catch-up rounds read only what changed (listMessages changedSince, with the vanished UIDs)
//    until a round finds little to do.
// 3. The final lock refuses writes to the source mailbox with IN_USE (retriable: IMAP
//    NO [INUSE], SMTP 451) and waits for the writes already admitted; a last catch-up follows,
//    then the copy is verified folder by folder (UIDVALIDITY, UIDNEXT, UIDs, flags).
// 4. The directory points the user at the target database, and the source mailbox is deleted.
//
// The move's state is a JSON file in the data directory, written (temp file, fsync, rename)
// at every change of state. A server that restarts resumes each unfinished move: before the
// switch the copy is re-synchronized from a full comparison (idempotent), after it the source
// deletion is finished. Every step is a diff of the two mailboxes, so nothing is lost or doubled.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CommitResult, FolderInfo, MailboxApi, MailboxChange, TxOp } from '../engine/api.js';
import type { Directory } from '../engine/directory/index.js';
import { fail, ok, type Result } from '../engine/errors.js';

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
  /** Catch-up rounds before the lock is taken anyway. */
  catchUpRoundsMax: 20,
  /** Moves remembered in the listing (the finished ones beyond are dropped, oldest first). */
  movesKeptMax: 200,
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
}

class Cancelled extends Error {}

/** Runs mailbox moves and holds the write lock of their final step. */
export class MoveManager {
  private readonly moves: MoveRecord[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private readonly cancelling = new Set<string>();
  /** `database/mailboxId` → writes admitted and not answered yet. */
  private readonly inflight = new Map<string, number>();
  private readonly locked = new Set<string>();
  private readonly drained = new Map<string, Array<() => void>>();

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
      listMessages: (id, folder, options) => api.listMessages(id, folder, options),
      readMessage: (id, folder, uid) => api.readMessage(id, folder, uid),
      summaries: (id, folder, uids) => api.summaries(id, folder, uids),
      readPart: (id, folder, uid, section, options) => api.readPart(id, folder, uid, section, options),
      bodyValues: (id, folder, uid, partIds, options) => api.bodyValues(id, folder, uid, partIds, options),
      search: (id, folder, criterion, options) => api.search(id, folder, criterion, options),
      watch: (id, listener: (change: MailboxChange) => void) => api.watch(id, listener),
      async commit(request): Promise<Result<CommitResult>> {
        const key = `${database}/${request.mailboxId}`;
        if (manager.locked.has(key)) return fail('IN_USE', 'the mailbox is being moved to another database; try again in a moment');
        manager.inflight.set(key, (manager.inflight.get(key) ?? 0) + 1);
        try {
          return await api.commit(request);
        } finally {
          const left = manager.inflight.get(key)! - 1;
          if (left > 0) manager.inflight.set(key, left);
          else {
            manager.inflight.delete(key);
            for (const resolve of manager.drained.get(key) ?? []) resolve();
            manager.drained.delete(key);
          }
        }
      },
    };
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
    try {
      if (move.state === 'locked') {
        // A restart during the lock: the switch may have happened before the state was saved.
        const user = await this.options.directory.findUser(move.address);
        if (user?.database === move.to) this.setState(move, 'switched');
      }
      if (move.state !== 'switched') {
        const copier = new Copier(move, source, target);
        await copier.prepare();
        this.checkpoint(move);
        await copier.round();
        if (move.state === 'copying') this.setState(move, 'catching-up');
        for (;;) {
          this.checkpoint(move);
          move.rounds += 1;
          const changes = await copier.round();
          move.updatedAtMs = this.options.nowMs();
          if (changes <= moveLimits.catchUpChangesMax || move.rounds >= moveLimits.catchUpRoundsMax) break;
        }
        this.checkpoint(move);
        this.locked.add(lockKey);
        this.setState(move, 'locked');
        await this.drain(lockKey);
        this.checkpoint(move);
        await copier.round();
        await copier.verify();
        this.checkpoint(move);
        const switched = await this.options.directory.setDatabase(move.address, move.to);
        if (!switched.ok) throw new Error(`directory: ${switched.message}`);
        this.setState(move, 'switched');
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

  private drain(key: string): Promise<void> {
    if ((this.inflight.get(key) ?? 0) === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiting = this.drained.get(key) ?? [];
      waiting.push(resolve);
      this.drained.set(key, waiting);
    });
  }

  private save(): void {
    mkdirSync(dirname(this.options.path), { recursive: true });
    const temp = `${this.options.path}.tmp`;
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ moves: this.moves }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.options.path);
    const dir = openSync(dirname(this.options.path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}

function unwrap<T>(result: Result<T>, what: string): T {
  if (!result.ok) throw new Error(`${what}: ${result.code} ${result.message}`);
  return result.value;
}

const sameFlags = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((f) => b.includes(f));

/** One move's copy: each round makes the target equal to the source as read in that round. */
class Copier {
  /** Per source folder (by UIDVALIDITY): the modseq the target is complete up to. */
  private readonly since = new Map<number, number>();
  private quotaBytes: number | null = null;

  constructor(private readonly move: MoveRecord, private readonly source: MailboxApi, private readonly target: MailboxApi) {}

  async prepare(): Promise<void> {
    const info = unwrap(await this.source.mailbox(this.move.mailboxId), 'reading the source mailbox');
    this.quotaBytes = info.quotaBytes;
    const existing = await this.target.mailbox(this.move.mailboxId);
    if (existing.ok) return; // a resumed move: the next round compares everything
    if (existing.code !== 'NO_SUCH_MAILBOX') throw new Error(`reading the target: ${existing.message}`);
    // No quota on the copy until the switch: the source is already within it.
    unwrap(await this.target.commit({ mailboxId: this.move.mailboxId, ops: [{ op: 'createMailbox', address: info.address, quotaBytes: null, imported: true }] }), 'creating the target mailbox');
  }

  private async commit(ops: TxOp[]): Promise<void> {
    if (ops.length === 0) return;
    unwrap(await this.target.commit({ mailboxId: this.move.mailboxId, ops }), 'writing the target');
  }

  /** Brings the folder tree of the target to the source's (folders matched by UIDVALIDITY). */
  private async folders(): Promise<FolderInfo[]> {
    const id = this.move.mailboxId;
    const sourceFolders = unwrap(await this.source.folders(id), 'listing source folders').sort((a, b) => a.uidValidity - b.uidValidity);
    let targetFolders = unwrap(await this.target.folders(id), 'listing target folders');
    const wanted = new Set(sourceFolders.map((f) => f.uidValidity));
    // Deepest first, so a parent is never deleted before its children.
    for (const gone of targetFolders.filter((f) => !wanted.has(f.uidValidity)).sort((a, b) => b.name.length - a.name.length)) {
      await this.commit([{ op: 'deleteFolder', name: gone.name }]);
      this.since.delete(gone.uidValidity);
    }
    for (const folder of sourceFolders) {
      targetFolders = unwrap(await this.target.folders(id), 'listing target folders');
      const twin = targetFolders.find((f) => f.uidValidity === folder.uidValidity);
      if (twin === undefined) {
        await this.commit([{ op: 'createFolder', name: folder.name, specialUse: folder.specialUse, uidValidity: folder.uidValidity }]);
      } else if (twin.name !== folder.name) {
        await this.commit([{ op: 'renameFolder', from: twin.name, to: folder.name }]);
      }
    }
    targetFolders = unwrap(await this.target.folders(id), 'listing target folders');
    const subscriptions: TxOp[] = [];
    for (const folder of sourceFolders) {
      const twin = targetFolders.find((f) => f.uidValidity === folder.uidValidity);
      if (twin !== undefined && twin.subscribed !== folder.subscribed) subscriptions.push({ op: 'subscribe', name: folder.name, subscribed: folder.subscribed });
    }
    await this.commit(subscriptions);
    return sourceFolders;
  }

  /** One pass over every folder; answers how many changes it made to the target. */
  async round(): Promise<number> {
    const id = this.move.mailboxId;
    let changes = 0;
    let total = 0;
    for (const folder of await this.folders()) {
      const since = this.since.get(folder.uidValidity);
      const listing = await this.source.listMessages(id, folder.name, since === undefined ? {} : { changedSince: since });
      if (!listing.ok && listing.code === 'NO_SUCH_FOLDER') continue; // deleted meanwhile: the next round drops it
      const changed = unwrap(listing, `listing ${folder.name}`);
      if (changed.folder.uidValidity !== folder.uidValidity) continue; // recreated meanwhile: the next round sees it
      const full = since === undefined || changed.vanishedIncomplete === true;
      const present = unwrap(await this.target.listMessages(id, folder.name), `listing target ${folder.name}`);
      const targetFlags = new Map(present.messages.map((m) => [m.uid, m.flags]));
      const inSource = new Set(changed.messages.map((m) => m.uid));
      const gone = full ? present.messages.map((m) => m.uid).filter((uid) => !inSource.has(uid)) : changed.vanished.filter((uid) => targetFlags.has(uid));
      let ops: TxOp[] = gone.length > 0 ? [{ op: 'expunge', folder: folder.name, uids: gone }] : [];
      changes += gone.length;
      let bytes = 0;
      for (const message of changed.messages) {
        const flags = targetFlags.get(message.uid);
        if (flags !== undefined) {
          if (!sameFlags(flags, message.flags)) ops.push({ op: 'store', folder: folder.name, uids: [message.uid], mode: 'set', flags: message.flags });
          else continue;
        } else {
          const content = await this.source.readMessage(id, folder.name, message.uid);
          if (!content.ok && content.code === 'NO_SUCH_MESSAGE') continue; // expunged meanwhile
          const data = unwrap(content, `reading ${folder.name} UID ${message.uid}`);
          ops.push({ op: 'append', folder: folder.name, content: data, flags: message.flags, internalDateMs: message.internalDateMs, uid: message.uid });
          bytes += data.length;
          this.move.messagesCopied += 1;
        }
        changes += 1;
        if (ops.length >= moveLimits.transactionOpsMax || bytes >= moveLimits.transactionBytesMax) {
          await this.commit(ops);
          ops = [];
          bytes = 0;
        }
      }
      await this.commit(ops);
      const after = unwrap(await this.target.folders(id), 'listing target folders').find((f) => f.uidValidity === folder.uidValidity);
      if (after !== undefined && after.uidNext < changed.folder.uidNext) {
        await this.commit([{ op: 'raiseUidNext', folder: folder.name, uidNext: changed.folder.uidNext }]);
        changes += 1;
      }
      this.since.set(folder.uidValidity, changed.folder.modseqHighest);
      total += changed.folder.messages;
    }
    this.move.messagesTotal = total;
    return changes;
  }

  /** Under the lock: the target must equal the source, folder by folder, message by message. */
  async verify(): Promise<void> {
    const id = this.move.mailboxId;
    const sourceFolders = unwrap(await this.source.folders(id), 'listing source folders');
    const targetFolders = unwrap(await this.target.folders(id), 'listing target folders');
    if (sourceFolders.length !== targetFolders.length) throw new Error(`verify: ${sourceFolders.length} source folders, ${targetFolders.length} target folders`);
    for (const folder of sourceFolders) {
      const twin = targetFolders.find((f) => f.name === folder.name);
      if (twin === undefined || twin.uidValidity !== folder.uidValidity || twin.uidNext !== folder.uidNext) {
        throw new Error(`verify: folder ${folder.name} differs (UIDVALIDITY/UIDNEXT ${folder.uidValidity}/${folder.uidNext} vs ${twin?.uidValidity}/${twin?.uidNext})`);
      }
      const a = unwrap(await this.source.listMessages(id, folder.name), `listing ${folder.name}`).messages;
      const b = unwrap(await this.target.listMessages(id, folder.name), `listing target ${folder.name}`).messages;
      if (a.length !== b.length || a.some((m, i) => m.uid !== b[i]!.uid || m.sizeBytes !== b[i]!.sizeBytes || !sameFlags(m.flags, b[i]!.flags) || m.internalDateMs !== b[i]!.internalDateMs)) {
        throw new Error(`verify: messages of ${folder.name} differ`);
      }
    }
    if (this.quotaBytes !== null) unwrap(await this.target.commit({ mailboxId: id, ops: [{ op: 'setQuota', quotaBytes: this.quotaBytes }] }), 'setting the quota');
  }
}
