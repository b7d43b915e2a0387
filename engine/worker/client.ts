// The front ends' handle on a database worker: implements the mailbox API by sending each
// call to the worker process and matching its reply. If the worker dies, calls in flight
// answer DATABASE_UNAVAILABLE (retriable) — never a hang and never a silent success.

import type { ChildProcess } from 'node:child_process';
import type { BodyValue, ColumnListing, CommitResult, ContentCriterion, FolderInfo, FolderListing, ListOptions, MailboxApi, MailboxChange, MailboxInfo, MessageContent, Section, TxRequest } from '../api.js';
import { type Result, fail, ok } from '../errors.js';
import { type PackedListing, unpackListing } from './pack.js';
import { Outbox, unpack } from './outbox.js';
import type { Many, Method, Notice, Reply, Request } from './protocol.js';

type Params<M extends Method> = Extract<Request, { method: M }>['params'];

export class WorkerClient implements MailboxApi {
  private nextId = 1;
  private readonly inflight = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private readonly watchers = new Map<string, Set<(change: MailboxChange) => void>>();
  private child: ChildProcess | null = null;
  /** Requests of this turn of the event loop, written together at its end (outbox.ts). */
  private outbox: Outbox<Request> | null = null;

  constructor(readonly database: string, private readonly onNotice: (notice: Notice) => void = () => {}) {}

  /** Binds to a (new) worker process; re-subscribes the watched mailboxes. */
  attach(child: ChildProcess): void {
    this.child = child;
    this.outbox = new Outbox<Request>(
      (message, done) => {
        if (child.connected) child.send(message, done);
        else done(new Error('no worker'));
      },
      (requests, error) => {
        for (const { id } of requests) this.inflight.get(id)?.reject(new Error(`database ${this.database} unavailable: ${error.message}`));
        for (const { id } of requests) this.inflight.delete(id);
      },
    );
    child.on('message', (message: Reply | Notice | Many<Reply | Notice>) => {
      for (const one of unpack(message)) this.receive(one);
    });
    for (const mailboxId of this.watchers.keys()) void this.call('watch', { mailboxId, on: true }).catch(() => {});
  }

  private receive(message: Reply | Notice): void {
    if ('id' in message) {
      const waiter = this.inflight.get(message.id);
      if (waiter === undefined) return;
      this.inflight.delete(message.id);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(new Error(message.error));
    } else {
      if (message.notice === 'change') this.dispatch(message.change as MailboxChange);
      this.onNotice(message);
    }
  }

  /** The worker is gone: everything in flight fails over to a retriable error. */
  detach(reason: string): void {
    this.child = null;
    this.outbox?.drop();
    this.outbox = null;
    for (const waiter of this.inflight.values()) waiter.reject(new Error(`database ${this.database} unavailable: ${reason}`));
    this.inflight.clear();
  }

  get attached(): boolean {
    return this.child !== null;
  }

  call<M extends Method>(method: M, params: Params<M>): Promise<unknown> {
    const child = this.child;
    const outbox = this.outbox;
    if (child === null || outbox === null || !child.connected) return Promise.reject(new Error(`database ${this.database} unavailable: no worker`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.inflight.set(id, { resolve, reject });
      outbox.send({ id, method, params } as Request);
    });
  }

  private async result<T>(method: Method, params: unknown): Promise<Result<T>> {
    try {
      return (await this.call(method as never, params as never)) as Result<T>;
    } catch (error) {
      return fail('DATABASE_UNAVAILABLE', (error as Error).message);
    }
  }

  commit(request: TxRequest): Promise<Result<CommitResult>> {
    return this.result('commit', request);
  }
  /** The requests go in one message: a content array shared by several of them is sent once (structured clone keeps references). */
  async commitMany(requests: readonly TxRequest[]): Promise<Array<Result<CommitResult>>> {
    const answered = await this.result<Array<Result<CommitResult>>>('commitMany', { requests });
    return answered.ok ? answered.value : requests.map(() => answered);
  }
  mailbox(mailboxId: string): Promise<Result<MailboxInfo>> {
    return this.result('mailbox', { mailboxId });
  }
  folders(mailboxId: string): Promise<Result<FolderInfo[]>> {
    return this.result('folders', { mailboxId });
  }
  sharedFolders(identifier: string): ReturnType<MailboxApi['sharedFolders']> {
    return this.result('sharedFolders', { identifier });
  }
  /** The worker answers with the messages in columns (pack.ts): unpacked here. */
  async listMessages(mailboxId: string, folder: string, options: ListOptions = {}): Promise<Result<FolderListing>> {
    const packed = await this.result<PackedListing>('listMessages', { mailboxId, folder, ...options });
    return packed.ok ? ok(unpackListing(packed.value)) : packed;
  }
  listMessageColumns(mailboxId: string, folder: string, options: ListOptions = {}): Promise<Result<ColumnListing>> {
    return this.result<ColumnListing>('listMessages', { mailboxId, folder, ...options });
  }
  /** Deletes whole log segments below `position` (at most the copy's checkpoint); see MailboxDatabase.truncateLog. */
  truncateLog(position: number): Promise<Result<{ removedSegments: number; logStartPosition: number }>> {
    return this.result('truncateLog', { position });
  }
  documents(mailboxId: string, kind: string, options: { readonly ids?: readonly string[] } = {}): ReturnType<MailboxApi['documents']> {
    return this.result('documents', { mailboxId, kind, ...options });
  }
  readMessage(mailboxId: string, folder: string, uid: number): Promise<Result<Uint8Array>> {
    return this.result('readMessage', { mailboxId, folder, uid });
  }

  summaries(mailboxId: string, folder: string, uids: readonly number[]): Promise<Result<MessageContent[]>> {
    return this.result('summaries', { mailboxId, folder, uids });
  }
  readPart(mailboxId: string, folder: string, uid: number, section: Section, options: { binary?: boolean } = {}): Promise<Result<Uint8Array | null>> {
    return this.result('readPart', { mailboxId, folder, uid, section, binary: options.binary === true });
  }
  bodyValues(mailboxId: string, folder: string, uid: number, partIds: readonly string[], options: { bytesMax?: number } = {}): Promise<Result<Record<string, BodyValue>>> {
    return this.result('bodyValues', { mailboxId, folder, uid, partIds, bytesMax: options.bytesMax ?? 0 });
  }

  search(mailboxId: string, folder: string, criterion: ContentCriterion, options: { uids?: readonly number[] } = {}): Promise<Result<number[]>> {
    return this.result('search', { mailboxId, folder, criterion, ...options });
  }

  watch(mailboxId: string, listener: (change: MailboxChange) => void): () => void {
    let set = this.watchers.get(mailboxId);
    if (set === undefined) {
      this.watchers.set(mailboxId, (set = new Set()));
      void this.call('watch', { mailboxId, on: true }).catch(() => {});
    }
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) {
        this.watchers.delete(mailboxId);
        void this.call('watch', { mailboxId, on: false }).catch(() => {});
      }
    };
  }

  private dispatch(change: MailboxChange): void {
    for (const listener of this.watchers.get(change.mailboxId) ?? []) listener(change);
  }
}
