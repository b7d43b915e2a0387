// Identity/get, set, changes (RFC 8621 sec. 6). A user starts with one identity per address
// the directory gives them (the primary address and each alias), seeded on first use and when
// an alias appears later; the primary's is never deletable (mayDelete false). Identities are
// account documents of kind `identity` (one per identity, in the mailbox database's log, so
// durable before a /set answers and kept across a failover or a mailbox move); the addresses
// already seeded are documents of kind `identity-seeded`, so a deleted one stays deleted. An
// identity's email must be one of the user's addresses (forbiddenFrom).

import { isOwnAddress } from '../../frontend.js';
import { type Collection, type Stored, getFrom, withCollection } from './collection.js';
import { type Args, type Method, type MethodContext, MethodError, checkOwnAccount, jmapLimits, resolveId, setArguments, setResponse } from './core.js';

export const identityKind = 'identity';
export const identitySeededKind = 'identity-seeded';

export interface IdentityValue {
  readonly name: string;
  readonly email: string;
  readonly replyTo: Array<{ name: string | null; email: string }> | null;
  readonly bcc: Array<{ name: string | null; email: string }> | null;
  readonly textSignature: string;
  readonly htmlSignature: string;
  /** The primary address's seeded identity: never deleted. */
  readonly primary: boolean;
}

const settable = ['name', 'email', 'replyTo', 'bcc', 'textSignature', 'htmlSignature'];

function identityObject(item: Stored<IdentityValue>): Args {
  const { name, email, replyTo, bcc, textSignature, htmlSignature, primary } = item.value;
  return { id: item.id, name, email, replyTo, bcc, textSignature, htmlSignature, mayDelete: !primary };
}

/** The identities, after seeding one for each address the directory gives the user and that was never seeded (a deleted one stays deleted). */
export async function identities<R>(context: MethodContext, change: (collection: Collection<IdentityValue>) => R): Promise<{ readonly result: R; readonly newState: string }> {
  const { account } = context;
  // Seeding is its own change, so a /set's ifInState compares with a state the client could have seen.
  await withCollection<IdentityValue, void>(
    context,
    identityKind,
    'I',
    (collection, read) => {
      const seeded = new Set(read.get(identitySeededKind)!.documents.map((d) => d.id));
      for (const address of [account.address, ...account.aliases].filter((a) => !seeded.has(a))) {
        collection.add({ name: account.displayName, email: address, replyTo: null, bcc: null, textSignature: '', htmlSignature: '', primary: address === account.address });
        collection.ops.push({ op: 'setDocument', kind: identitySeededKind, id: address, value: true });
      }
    },
    [identitySeededKind],
  );
  return withCollection<IdentityValue, R>(context, identityKind, 'I', change);
}

function addressList(value: unknown, property: string): Array<{ name: string | null; email: string }> | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value)) throw new MethodError('invalidProperties', `${property} must be a list of addresses`, { properties: [property] });
  return value.map((a: { name?: unknown; email?: unknown }) => {
    if (typeof a?.email !== 'string' || !/^[^\s<>@]+@[^\s<>@]+$/.test(a.email)) throw new MethodError('invalidProperties', `${property}: bad email address`, { properties: [property] });
    return { name: typeof a.name === 'string' ? a.name : null, email: a.email };
  });
}

function text(value: unknown, property: string, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || value.length > 64 * 1024) throw new MethodError('invalidProperties', `${property} must be a string (at most 64 KiB)`, { properties: [property] });
  return value;
}

export const identityGet: Method = async (args, context) => {
  checkOwnAccount(args, context);
  return (await identities(context, (collection) => getFrom(collection, args, context.accountId, identityObject, (id) => resolveId(id, context), jmapLimits.maxObjectsInGet))).result;
};

export const identityChanges: Method = async (args, context) => {
  checkOwnAccount(args, context);
  return (await identities(context, (collection) => collection.changes(context.accountId, args.sinceState, args.maxChanges))).result;
};

export const identitySet: Method = async (args, context) => {
  checkOwnAccount(args, context);
  const { creates, updates, destroys } = setArguments(args);
  /** Creation ids of the attempt that was committed (a lost race plans again). */
  const created = new Map<string, string>();
  const { result, newState } = await identities(context, (collection) => {
    if (args.ifInState !== undefined && args.ifInState !== null && args.ifInState !== collection.state) throw new MethodError('stateMismatch', 'ifInState does not match');
    const { out, put, refused } = setResponse(context.accountId, collection.state);
    created.clear();
    for (const [creationId, object] of creates) {
      try {
        const unknown = Object.keys(object).filter((k) => !settable.includes(k));
        if (unknown.length > 0) throw new MethodError('invalidProperties', 'unknown or server-set properties', { properties: unknown });
        if (typeof object.email !== 'string') throw new MethodError('invalidProperties', 'email is required', { properties: ['email'] });
        if (!isOwnAddress(context.account, object.email)) throw new MethodError('forbiddenFrom', `${object.email} is not one of your addresses`);
        const id = collection.add({
          name: text(object.name, 'name', ''),
          email: object.email.toLowerCase(),
          replyTo: addressList(object.replyTo, 'replyTo'),
          bcc: addressList(object.bcc, 'bcc'),
          textSignature: text(object.textSignature, 'textSignature', ''),
          htmlSignature: text(object.htmlSignature, 'htmlSignature', ''),
          primary: false,
        });
        created.set(creationId, id);
        put('created', creationId, { id, mayDelete: true });
      } catch (error) {
        refused('notCreated', creationId, error);
      }
    }
    for (const [rawId, patch] of updates) {
      const id = resolveId(rawId, context);
      try {
        const item = collection.get(id);
        if (item === undefined) throw new MethodError('notFound', `no identity ${id}`);
        const unknown = Object.keys(patch).filter((k) => !settable.includes(k));
        if (unknown.length > 0) throw new MethodError('invalidProperties', 'unknown or server-set properties', { properties: unknown });
        if (patch.email !== undefined && String(patch.email).toLowerCase() !== item.value.email) throw new MethodError('invalidProperties', 'email cannot change', { properties: ['email'] });
        const v = item.value;
        collection.update(id, {
          ...v,
          name: 'name' in patch ? text(patch.name, 'name', '') : v.name,
          replyTo: 'replyTo' in patch ? addressList(patch.replyTo, 'replyTo') : v.replyTo,
          bcc: 'bcc' in patch ? addressList(patch.bcc, 'bcc') : v.bcc,
          textSignature: 'textSignature' in patch ? text(patch.textSignature, 'textSignature', '') : v.textSignature,
          htmlSignature: 'htmlSignature' in patch ? text(patch.htmlSignature, 'htmlSignature', '') : v.htmlSignature,
        });
        put('updated', id, null);
      } catch (error) {
        refused('notUpdated', id, error);
      }
    }
    for (const rawId of destroys) {
      const id = resolveId(rawId, context);
      const item = collection.get(id);
      if (item === undefined) put('notDestroyed', id, { type: 'notFound' });
      else if (item.value.primary) put('notDestroyed', id, { type: 'forbidden', description: 'the identity of your primary address cannot be deleted' });
      else {
        collection.destroy(id);
        (out.destroyed ??= []).push(id);
      }
    }
    return out;
  });
  for (const [creationId, id] of created) context.createdIds.set(creationId, id);
  return { ...result, newState };
};

