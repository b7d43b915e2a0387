// A JMAP object collection kept as one account document (FrontEndContext.documents): Identity
// and EmailSubmission. The state string is a version number bumped by every change; each
// object records the version it was created and last changed in, and destroyed objects are
// remembered (the newest destroyedRemembered) so /changes can name them. A state older than
// what is remembered answers cannotCalculateChanges.

import type { AccountDocuments } from '../../frontend.js';
import { unwrap } from './account.js';
import { type Args, MethodError } from './core.js';

/** Destroyed objects remembered for /changes. */
export const destroyedRemembered = 1000;

export interface Stored<T> {
  readonly id: string;
  readonly createdIn: number;
  readonly changedIn: number;
  readonly value: T;
}

export interface CollectionDocument<T> {
  readonly version: number;
  readonly nextId: number;
  readonly items: ReadonlyArray<Stored<T>>;
  readonly destroyed: ReadonlyArray<Omit<Stored<T>, 'value'>>;
  /** Changes at or before this version are no longer all known. */
  readonly forgottenUpTo: number;
  /** What the object type keeps beside its objects (e.g. which addresses were seeded). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

const emptyCollection = <T>(): CollectionDocument<T> => ({ version: 0, nextId: 1, items: [], destroyed: [], forgottenUpTo: 0 });

/** A working copy of a collection: changes made through it go into one new version. */
export class Collection<T> {
  private readonly items: Map<string, Stored<T>>;
  private readonly destroyed: Array<Omit<Stored<T>, 'value'>>;
  private nextId: number;
  private forgottenUpTo: number;
  private changed = false;
  private readonly extras: Record<string, unknown>;
  readonly version: number;

  constructor(document: CollectionDocument<T> | null, private readonly idPrefix: string) {
    const doc = document ?? emptyCollection<T>();
    this.version = doc.version;
    this.items = new Map(doc.items.map((item) => [item.id, item]));
    this.destroyed = [...doc.destroyed];
    this.nextId = doc.nextId;
    this.forgottenUpTo = doc.forgottenUpTo;
    this.extras = { ...(doc.extra ?? {}) };
  }

  extra<V>(key: string): V | undefined {
    return this.extras[key] as V | undefined;
  }

  /** Sets a value kept beside the objects; it changes no state string unless an object changes too. */
  setExtra(key: string, value: unknown): void {
    this.extras[key] = value;
    this.extraChanged = true;
  }

  private extraChanged = false;

  /** The state string after this working copy is stored. */
  get newState(): string {
    return String(this.version + (this.changed ? 1 : 0));
  }

  get state(): string {
    return String(this.version);
  }

  get(id: string): Stored<T> | undefined {
    return this.items.get(id);
  }

  all(): Stored<T>[] {
    return [...this.items.values()];
  }

  add(value: T): string {
    const id = `${this.idPrefix}${this.nextId++}`;
    this.items.set(id, { id, createdIn: this.version + 1, changedIn: this.version + 1, value });
    this.changed = true;
    return id;
  }

  update(id: string, value: T): void {
    const item = this.items.get(id);
    if (item === undefined) throw new Error(`no ${id}`);
    this.items.set(id, { ...item, changedIn: this.version + 1, value });
    this.changed = true;
  }

  destroy(id: string): void {
    const item = this.items.get(id);
    if (item === undefined) return;
    this.items.delete(id);
    this.destroyed.push({ id, createdIn: item.createdIn, changedIn: this.version + 1 });
    while (this.destroyed.length > destroyedRemembered) this.forgottenUpTo = Math.max(this.forgottenUpTo, this.destroyed.shift()!.changedIn);
    this.changed = true;
  }

  /** The document to store, or undefined when nothing changed. */
  document(): CollectionDocument<T> | undefined {
    if (!this.changed && !this.extraChanged) return undefined;
    return { version: this.newState === this.state ? this.version : this.version + 1, nextId: this.nextId, items: [...this.items.values()], destroyed: this.destroyed, forgottenUpTo: this.forgottenUpTo, extra: this.extras };
  }

  /** RFC 8620 5.2 /changes from a state string of this collection. */
  changes(accountId: string, sinceState: unknown, maxChanges: unknown): Args {
    const since = typeof sinceState === 'string' && /^\d{1,15}$/.test(sinceState) ? Number(sinceState) : null;
    if (since === null || since > Number(this.newState) || since < this.forgottenUpTo) throw new MethodError('cannotCalculateChanges', 'unknown or too old a state');
    if (maxChanges !== undefined && maxChanges !== null && (typeof maxChanges !== 'number' || maxChanges < 1)) throw new MethodError('invalidArguments', 'maxChanges must be positive');
    const created: string[] = [];
    const updated: string[] = [];
    for (const item of this.items.values()) {
      if (item.createdIn > since) created.push(item.id);
      else if (item.changedIn > since) updated.push(item.id);
    }
    const destroyed = this.destroyed.filter((d) => d.changedIn > since && d.createdIn <= since).map((d) => d.id);
    if (typeof maxChanges === 'number' && created.length + updated.length + destroyed.length > maxChanges) throw new MethodError('cannotCalculateChanges', 'more changes than maxChanges: resynchronize');
    return { accountId, oldState: sinceState, newState: this.newState, hasMoreChanges: false, created, updated, destroyed };
  }
}

/** Runs `change` on the current collection and stores what it changed, durably, before answering its result. */
export async function changeCollection<T, R>(documents: AccountDocuments, mailboxId: string, name: string, idPrefix: string, change: (collection: Collection<T>) => R): Promise<R> {
  return unwrap(
    await documents.update<CollectionDocument<T>, R>(mailboxId, name, (current) => {
      const collection = new Collection<T>(current, idPrefix);
      const result = change(collection);
      const value = collection.document();
      return value === undefined ? { result } : { value, result };
    }),
  );
}

/** The account's documents, or a method error when this server keeps none. */
export function documentsOf(context: { frontEnd: { documents?: AccountDocuments } }): AccountDocuments {
  if (context.frontEnd.documents === undefined) throw new MethodError('serverUnavailable', 'this server keeps no account documents');
  return context.frontEnd.documents;
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
  return { accountId, state: collection.newState, list, notFound };
}
