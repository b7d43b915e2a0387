// A database's stable handle for front ends: `supervisor.api(database)` returns one of these
// and it never changes. It forwards every call to whichever copy is active now; while a
// switchover or failover runs it holds calls (up to routeWaitMsMax) and then sends them to the
// new active copy, and it moves mailbox watches over too. With no active copy mounted, calls
// answer DATABASE_UNAVAILABLE (retriable).

import type { BodyValue, ColumnListing, CommitResult, ContentCriterion, FolderInfo, FolderListing, ListOptions, MailboxApi, MailboxChange, MailboxInfo, MessageContent, Section, TxRequest } from '../api.js';
import { type Result, fail, ok } from '../errors.js';

/** What the router needs from a copy's client (WorkerClient in production). */
export type RouteTarget = MailboxApi;

/** How long a call waits for an activation in progress before it is answered DATABASE_UNAVAILABLE. */
export const routeWaitMsMax = 20_000;

export class DatabaseRouter implements MailboxApi {
  private target: RouteTarget | null = null;
  private gate: { promise: Promise<void>; open(): void } | null = null;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly watchers = new Map<string, { listeners: Set<(change: MailboxChange) => void>; unwatch: (() => void) | null }>();

  constructor(readonly database: string) {}

  /** Points the router at a copy (or at none); watches move with it. */
  setTarget(target: RouteTarget | null): void {
    if (this.target === target) return;
    for (const entry of this.watchers.values()) {
      entry.unwatch?.();
      entry.unwatch = null;
    }
    this.target = target;
    if (target !== null) {
      for (const [mailboxId, entry] of this.watchers) entry.unwatch = target.watch(mailboxId, (change) => this.dispatch(change));
    }
  }

  get current(): RouteTarget | null {
    return this.target;
  }

  /** Holds new calls until release(); resolves once the calls already running have answered. */
  async hold(): Promise<void> {
    if (this.gate === null) {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      this.gate = { promise, open };
    }
    if (this.inflight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  release(): void {
    const gate = this.gate;
    this.gate = null;
    gate?.open();
  }

  get held(): boolean {
    return this.gate !== null;
  }

  private async route<T>(call: (target: RouteTarget) => Promise<Result<T>>): Promise<Result<T>> {
    if (this.gate !== null) {
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        this.gate.promise.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), routeWaitMsMax))),
      ]);
      clearTimeout(timer);
      if (!waited) return fail('DATABASE_UNAVAILABLE', `database ${this.database}: activation still in progress, try again`);
    }
    const target = this.target;
    if (target === null) return fail('DATABASE_UNAVAILABLE', `database ${this.database}: no active copy is mounted`);
    this.inflight += 1;
    try {
      return await call(target);
    } finally {
      this.inflight -= 1;
      if (this.inflight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  commit(request: TxRequest): Promise<Result<CommitResult>> {
    return this.route((t) => t.commit(request));
  }
  async commitMany(requests: readonly TxRequest[]): Promise<Array<Result<CommitResult>>> {
    const answered = await this.route(async (t) => ok(await t.commitMany(requests)));
    return answered.ok ? answered.value : requests.map(() => answered);
  }
  mailbox(mailboxId: string): Promise<Result<MailboxInfo>> {
    return this.route((t) => t.mailbox(mailboxId));
  }
  folders(mailboxId: string): Promise<Result<FolderInfo[]>> {
    return this.route((t) => t.folders(mailboxId));
  }
  sharedFolders(identifier: string): ReturnType<MailboxApi['sharedFolders']> {
    return this.route((t) => t.sharedFolders(identifier));
  }
  listMessages(mailboxId: string, folder: string, options: ListOptions = {}): Promise<Result<FolderListing>> {
    return this.route((t) => t.listMessages(mailboxId, folder, options));
  }
  listMessageColumns(mailboxId: string, folder: string, options: ListOptions = {}): Promise<Result<ColumnListing>> {
    return this.route((t) => t.listMessageColumns(mailboxId, folder, options));
  }
  documents(mailboxId: string, kind: string, options: { readonly ids?: readonly string[] } = {}): ReturnType<MailboxApi['documents']> {
    return this.route((t) => t.documents(mailboxId, kind, options));
  }
  readMessage(mailboxId: string, folder: string, uid: number): Promise<Result<Uint8Array>> {
    return this.route((t) => t.readMessage(mailboxId, folder, uid));
  }
  summaries(mailboxId: string, folder: string, uids: readonly number[]): Promise<Result<MessageContent[]>> {
    return this.route((t) => t.summaries(mailboxId, folder, uids));
  }
  readPart(mailboxId: string, folder: string, uid: number, section: Section, options: { binary?: boolean } = {}): Promise<Result<Uint8Array | null>> {
    return this.route((t) => t.readPart(mailboxId, folder, uid, section, options));
  }
  bodyValues(mailboxId: string, folder: string, uid: number, partIds: readonly string[], options: { bytesMax?: number } = {}): Promise<Result<Record<string, BodyValue>>> {
    return this.route((t) => t.bodyValues(mailboxId, folder, uid, partIds, options));
  }
  search(mailboxId: string, folder: string, criterion: ContentCriterion, options: { uids?: readonly number[] } = {}): Promise<Result<number[]>> {
    return this.route((t) => t.search(mailboxId, folder, criterion, options));
  }

  watch(mailboxId: string, listener: (change: MailboxChange) => void): () => void {
    let entry = this.watchers.get(mailboxId);
    if (entry === undefined) {
      entry = { listeners: new Set(), unwatch: null };
      this.watchers.set(mailboxId, entry);
      if (this.target !== null) entry.unwatch = this.target.watch(mailboxId, (change) => this.dispatch(change));
    }
    entry.listeners.add(listener);
    return () => {
      entry!.listeners.delete(listener);
      if (entry!.listeners.size === 0) {
        entry!.unwatch?.();
        this.watchers.delete(mailboxId);
      }
    };
  }

  private dispatch(change: MailboxChange): void {
    for (const listener of this.watchers.get(change.mailboxId)?.listeners ?? []) listener(change);
  }
}
