// A JMAP object type kept as account documents of one kind (protocols/documents.ts, engine
// setDocument): Identity and EmailSubmission. The state string is the kind's highest modseq
// (documentState: `d<modseq>`, so a state from before documents were log events, a plain version
// number, is not mistaken for one and answers cannotCalculateChanges);
// each object has the modseqs of its creation and last change, and the engine remembers the
// newest destroyed ids, so /changes and /queryChanges answer from modseqs, as for mail. A state
// older than what is remembered answers cannotCalculateChanges.

import { randomBytes } from 'node:crypto';
import type { CommitResult, DocumentListing, TxOp } from '../../../engine/api.js';
import { changeDocuments, kindStateAfter } from '../../documents.js';
import { unwrap } from './account.js';
import { type Args, type MethodContext, MethodError } from './core.js';

export interface Stored<T> {
  readonly id: string;
  readonly createdModseq: number;
  readonly modseq: number;
  readonly value: T;
}

/** The JMAP state string of a document kind at `modseq` (Identity, EmailSubmission, VacationResponse). */
export function documentState(modseq: number): string {
  return `d${modseq}`;
}

/** The modseq a document state string names, or null when it names none. */
export function documentStateModseq(state: unknown): number | null {
  const match = typeof state === 'string' ? /^d(\d{1,15})$/.exec(state) : null;
  return match === null ? null : Number(match[1]);
}

/** A working copy of a kind's documents: changes made through it become the ops of one commit. */
export class Collection<T> {
  private readonly items: Map<string, Stored<T>>;
  readonly ops: TxOp[] = [];

  constructor(
    readonly kind: string,
    readonly listing: DocumentListing,
    private readonly idPrefix: string,
  ) {
    this.items = new Map(listing.documents.map((d) => [d.id, { id: d.id, createdModseq: d.createdModseq, modseq: d.modseq, value: d.value as T }]));
  }

  /** The state string as read (before this working copy's changes). */
  get state(): string {
    return documentState(this.listing.modseqHighest);
  }

  get(id: string): Stored<T> | undefined {
    return this.items.get(id);
  }

  all(): Stored<T>[] {
    return [...this.items.values()];
  }

  /** A new object (`id`: one this kind gave out before, when a change is planned again); `keepNewest`: the kind keeps only that many (the least recently changed go). */
  add(value: T, options: { keepNewest?: number; id?: string } = {}): string {
    const { id = `${this.idPrefix}${randomBytes(8).toString('base64url')}`, ...rest } = options;
    this.items.set(id, { id, createdModseq: Infinity, modseq: Infinity, value });
    this.ops.push({ op: 'setDocument', kind: this.kind, id, value, ...rest });
    return id;
  }

  update(id: string, value: T): void {
    const item = this.items.get(id);
    if (item === undefined) throw new Error(`no ${id}`);
    this.items.set(id, { ...item, value });
    this.ops.push({ op: 'setDocument', kind: this.kind, id, value });
  }

  destroy(id: string): void {
    if (!this.items.delete(id)) return;
    this.ops.push({ op: 'destroyDocument', kind: this.kind, id });
  }

  /** The modseq a state string names, or cannotCalculateChanges when it is not one this kind can answer from. */
  since(sinceState: unknown): number {
    const since = documentStateModseq(sinceState);
    if (since === null || since > this.listing.modseqHighest || since < this.listing.destroyedDroppedModseq) throw new MethodError('cannotCalculateChanges', 'unknown or too old a state');
    return since;
  }

  /** Objects created, updated and destroyed after the modseq `since` (as read). */
  changedSince(since: number): { created: string[]; updated: string[]; destroyed: string[] } {
    const created: string[] = [];
    const updated: string[] = [];
    for (const item of this.listing.documents) {
      if (item.createdModseq > since) created.push(item.id);
      else if (item.modseq > since) updated.push(item.id);
    }
    const destroyed = this.listing.destroyed.filter((d) => d.modseq > since && d.createdModseq <= since && !this.items.has(d.id)).map((d) => d.id);
    return { created, updated, destroyed };
  }

  /** RFC 8620 5.2 /changes from a state string of this kind. */
  changes(accountId: string, sinceState: unknown, maxChanges: unknown): Args {
    const since = this.since(sinceState);
    if (maxChanges !== undefined && maxChanges !== null && (typeof maxChanges !== 'number' || maxChanges < 1)) throw new MethodError('invalidArguments', 'maxChanges must be positive');
    const { created, updated, destroyed } = this.changedSince(since);
    if (typeof maxChanges === 'number' && created.length + updated.length + destroyed.length > maxChanges) throw new MethodError('cannotCalculateChanges', 'more changes than maxChanges: resynchronize');
    return { accountId, oldState: sinceState, newState: this.state, hasMoreChanges: false, created, updated, destroyed };
  }
}

/**
 * Runs `change` on the account's documents of `kind` (read again and re-run when another writer
 * got there first) and commits what it changed, durably, before answering its result and the
 * kind's state after it. `also`: other kinds the change reads (and depends on). `listing`: the
 * kind as the caller read it already, planned on first instead of reading it again.
 */
export async function withCollection<T, R>(
  context: MethodContext,
  kind: string,
  idPrefix: string,
  change: (collection: Collection<T>, read: ReadonlyMap<string, DocumentListing>) => R,
  also: readonly string[] = [],
  listing?: DocumentListing,
): Promise<{ readonly result: R; readonly newState: string }> {
  let collection: Collection<T> | null = null;
  const first = listing === undefined ? undefined : new Map([[kind, listing]]);
  const done: { result: R; commit: CommitResult | null } = unwrap(
    await changeDocuments(context.view.api, context.account.mailboxId, [{ kind }, ...also.map((k) => ({ kind: k }))], (read) => {
      collection = new Collection<T>(kind, read.get(kind)!, idPrefix);
      return { result: change(collection, read), ops: collection.ops };
    }, first),
  );
  const used = collection as unknown as Collection<T>;
  return { result: done.result, newState: documentState(kindStateAfter(kind, used.listing, done.commit, used.ops)) };
}

/** RFC 8620 5.1 /get over a collection: ids (or all), properties, notFound. */
export function getFrom<T>(collection: Collection<T>, args: Args, accountId: string, objectOf: (item: Stored<T>) => Args, resolve: (id: string) => string, maxObjects: number): Args {
  let items: Array<Stored<T>>;
  const notFound: string[] = [];
  if (args.ids === null || args.ids === undefined) items = collection.all();
  else {
    if (!Array.isArray(args.ids) || !args.ids.every((id: unknown) => typeof id === 'string')) throw new MethodError('invalidArguments', 'ids must be a list of ids');
    if (args.ids.length > maxObjects) throw new MethodError('requestTooLarge', `at most ${maxObjects} ids`);
    items = [];
    for (const raw of args.ids as string[]) {
      const item = collection.get(resolve(raw));
      if (item === undefined) notFound.push(resolve(raw));
      else items.push(item);
    }
  }
  const properties = Array.isArray(args.properties) ? (args.properties as string[]) : null;
  const list = items.map((item) => {
    const object = objectOf(item);
    if (properties === null) return object;
    const out: Args = { id: item.id };
    for (const p of properties) if (p in object) out[p] = object[p];
    return out;
  });
  return { accountId, state: collection.state, list, notFound };
}
