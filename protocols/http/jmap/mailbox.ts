// Mailbox/get, changes, query, queryChanges, set (RFC 8621 sec. 2) over the account's folders.

import type { TxOp } from '../../../engine/api.js';
import { type Folder, folderSeparator, parseMailboxId, parseState, specialUseOf } from './account.js';
import { type Args, type Method, type MethodContext, MethodError, beginSet, checkAccount, idList, jmapLimits, resolveId } from './core.js';
import { setErrorOf } from './errors.js';
import { jmapRights } from './shared.js';

const rights = { mayReadItems: true, mayAddItems: true, mayRemoveItems: true, maySetSeen: true, maySetKeywords: true, mayCreateChild: true, mayRename: true, mayDelete: true, maySubmit: true };

function mailboxObject(folder: Folder): Args {
  return {
    id: folder.id,
    name: folder.leafName,
    parentId: folder.parentId,
    role: folder.role,
    sortOrder: folder.role === 'inbox' ? 0 : folder.role === null ? 10 : 1,
    totalEmails: folder.messages,
    unreadEmails: folder.unseen,
    totalThreads: folder.messages,
    unreadThreads: folder.unseen,
    myRights: folder.myRights === undefined ? rights : jmapRights(folder.myRights),
    isSubscribed: folder.subscribed,
  };
}

function pick(object: Args, properties: readonly string[] | null): Args {
  if (properties === null) return object;
  const out: Args = { id: object.id };
  for (const p of properties) if (p in object) out[p] = object[p];
  return out;
}

const mailboxProperties = Object.keys(mailboxObject({ id: '', leafName: '', parentId: null, role: null, messages: 0, unseen: 0, subscribed: false } as unknown as Folder));

export const mailboxGet: Method = async (args, context) => {
  checkAccount(args, context);
  const ids = idList(args.ids, 'ids', context, jmapLimits.maxObjectsInGet);
  const properties = args.properties === undefined || args.properties === null ? null : (args.properties as string[]);
  if (properties !== null && (!Array.isArray(properties) || properties.some((p) => !mailboxProperties.includes(p)))) throw new MethodError('invalidArguments', 'unknown property');
  const folders = await context.view.folders();
  const list: Args[] = [];
  const notFound: string[] = [];
  for (const id of ids ?? folders.map((f) => f.id)) {
    const folder = folders.find((f) => f.id === id);
    if (folder === undefined) notFound.push(id);
    else list.push(pick(mailboxObject(folder), properties));
  }
  return { accountId: context.accountId, state: await context.view.state(), list, notFound };
};

export const mailboxChanges: Method = async (args, context) => {
  checkAccount(args, context);
  const since = parseState(args.sinceState);
  const newState = await context.view.state();
  const now = parseState(newState)!;
  if (since === null || since.modseq > now.modseq) throw new MethodError('cannotCalculateChanges', 'unknown sinceState');
  const folders = await context.view.folders();
  const created = folders.filter((f) => !since.uidNext.has(f.folderId)).map((f) => f.id);
  const destroyed = [...since.uidNext.keys()].filter((id) => !now.uidNext.has(id)).map((id) => `F${id}`);
  // Counts, names and subscriptions may all change with the modseq: a kept folder is reported
  // updated when anything in the mailbox changed (clients then re-read it; RFC 8620 5.2 allows it).
  const updated = since.modseq === now.modseq ? [] : folders.filter((f) => since.uidNext.has(f.folderId)).map((f) => f.id);
  const maxChanges = typeof args.maxChanges === 'number' ? args.maxChanges : null;
  if (maxChanges !== null && created.length + updated.length + destroyed.length > maxChanges) throw new MethodError('cannotCalculateChanges', 'more changes than maxChanges');
  return { accountId: context.accountId, oldState: args.sinceState, newState, hasMoreChanges: false, created, updated, destroyed, updatedProperties: null };
};

function matches(folder: Folder, filter: Args, folders: readonly Folder[]): boolean {
  if (typeof filter.operator === 'string') {
    const conditions = (filter.conditions ?? []) as Args[];
    if (filter.operator === 'AND') return conditions.every((c) => matches(folder, c, folders));
    if (filter.operator === 'OR') return conditions.some((c) => matches(folder, c, folders));
    if (filter.operator === 'NOT') return !conditions.some((c) => matches(folder, c, folders));
    throw new MethodError('unsupportedFilter', `operator ${filter.operator}`);
  }
  for (const [key, value] of Object.entries(filter)) {
    if (key === 'parentId' && folder.parentId !== value) return false;
    else if (key === 'name' && !folder.leafName.toLowerCase().includes(String(value).toLowerCase())) return false;
    else if (key === 'role' && folder.role !== value) return false;
    else if (key === 'hasAnyRole' && (folder.role !== null) !== value) return false;
    else if (key === 'isSubscribed' && folder.subscribed !== value) return false;
    else if (!['parentId', 'name', 'role', 'hasAnyRole', 'isSubscribed'].includes(key)) throw new MethodError('unsupportedFilter', `filter ${key}`);
  }
  return true;
}

async function queryIds(args: Args, context: MethodContext): Promise<string[]> {
  const folders = await context.view.folders();
  let list = folders.filter((f) => args.filter === undefined || args.filter === null || matches(f, args.filter, folders));
  const sort = (args.sort ?? [{ property: 'sortOrder' }, { property: 'name' }]) as Args[];
  for (const s of sort) if (!['name', 'sortOrder'].includes(s.property)) throw new MethodError('unsupportedSort', `sort by ${s.property}`);
  list = [...list].sort((a, b) => {
    for (const s of sort) {
      const x = s.property === 'name' ? a.leafName.localeCompare(b.leafName) : Number(mailboxObject(a).sortOrder) - Number(mailboxObject(b).sortOrder);
      if (x !== 0) return s.isAscending === false ? -x : x;
    }
    return a.folderId - b.folderId;
  });
  return list.map((f) => f.id);
}

export const mailboxQuery: Method = async (args, context) => {
  checkAccount(args, context);
  const ids = await queryIds(args, context);
  const position = Math.max(0, Number(args.position ?? 0));
  const limit = args.limit === undefined || args.limit === null ? ids.length : Number(args.limit);
  return { accountId: context.accountId, queryState: await context.view.state(), canCalculateChanges: true, position, ids: ids.slice(position, position + limit), total: ids.length };
};

export const mailboxQueryChanges: Method = async (args, context) => {
  checkAccount(args, context);
  const changes = (await mailboxChanges({ accountId: args.accountId, sinceState: args.sinceQueryState }, context)) as Args;
  const ids = await queryIds(args, context);
  const touched = new Set<string>([...changes.created, ...changes.updated, ...changes.destroyed]);
  return {
    accountId: context.accountId,
    oldQueryState: args.sinceQueryState,
    newQueryState: changes.newState,
    total: ids.length,
    removed: [...touched],
    added: ids.flatMap((id, index) => (touched.has(id) ? [{ id, index }] : [])),
  };
};

/** The full folder name for a (leaf name, parent) pair. */
function fullName(name: unknown, parentId: unknown, folders: readonly Folder[], context: MethodContext): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes(folderSeparator)) throw new MethodError('invalidProperties', 'name must be non-empty and without /', { properties: ['name'] });
  if (parentId === null || parentId === undefined) return name;
  const parent = folders.find((f) => f.id === resolveId(String(parentId), context));
  if (parent === undefined) throw new MethodError('invalidProperties', 'no such parent', { properties: ['parentId'] });
  return `${parent.name}${folderSeparator}${name}`;
}

export const mailboxSet: Method = async (args, context) => {
  const view = context.view;
  const { creates, updates, destroys, out, put } = await beginSet(args, context);
  const commit = async (ops: TxOp[]) => {
    const result = await view.api.commit({ mailboxId: view.mailboxId, ops });
    view.invalidate();
    return result;
  };

  for (const [creationId, object] of creates) {
    try {
      const folders = await view.folders();
      const name = fullName(object.name, object.parentId, folders, context);
      const known = ['name', 'parentId', 'role', 'sortOrder', 'isSubscribed'];
      const unknown = Object.keys(object).filter((k) => !known.includes(k));
      if (unknown.length > 0) throw new MethodError('invalidProperties', 'unknown or server-set properties', { properties: unknown });
      const ops: TxOp[] = [{ op: 'createFolder', name, specialUse: typeof object.role === 'string' ? specialUseOf(object.role) : null }];
      if (object.isSubscribed === true) ops.push({ op: 'subscribe', name, subscribed: true });
      const result = await commit(ops);
      if (!result.ok) {
        put('notCreated', creationId, setErrorOf(result));
        continue;
      }
      const folder = (await view.folders()).find((f) => f.name === name)!;
      context.createdIds.set(creationId, folder.id);
      put('created', creationId, { id: folder.id, totalEmails: 0, unreadEmails: 0, totalThreads: 0, unreadThreads: 0, myRights: rights, sortOrder: 10, isSubscribed: object.isSubscribed === true });
    } catch (error) {
      if (!(error instanceof MethodError)) throw error;
      put('notCreated', creationId, { type: error.type, description: error.message, ...error.extra });
    }
  }

  for (const [rawId, patch] of updates) {
    const id = resolveId(rawId, context);
    try {
      const folders = await view.folders();
      const folder = folders.find((f) => f.id === id);
      if (folder === undefined) throw new MethodError('notFound', `no mailbox ${id}`);
      const ops: TxOp[] = [];
      const unknown = Object.keys(patch).filter((k) => !['name', 'parentId', 'isSubscribed', 'sortOrder'].includes(k));
      if (unknown.length > 0) throw new MethodError('invalidProperties', 'cannot set these properties', { properties: unknown });
      if ('name' in patch || 'parentId' in patch) {
        const name = fullName(patch.name ?? folder.leafName, 'parentId' in patch ? patch.parentId : folder.parentId, folders, context);
        if (name !== folder.name) ops.push({ op: 'renameFolder', from: folder.name, to: name });
      }
      if (typeof patch.isSubscribed === 'boolean') ops.push({ op: 'subscribe', name: ops.length > 0 ? (ops[0] as { to: string }).to : folder.name, subscribed: patch.isSubscribed });
      if (ops.length > 0) {
        const result = await commit(ops);
        if (!result.ok) {
          put('notUpdated', id, setErrorOf(result));
          continue;
        }
      }
      put('updated', id, null);
    } catch (error) {
      if (!(error instanceof MethodError)) throw error;
      put('notUpdated', id, { type: error.type, description: error.message, ...error.extra });
    }
  }

  for (const rawId of destroys) {
    const id = resolveId(rawId, context);
    const folders = await view.folders();
    const folder = folders.find((f) => f.id === id);
    if (folder === undefined || parseMailboxId(id) === null) {
      put('notDestroyed', id, { type: 'notFound' });
      continue;
    }
    if (folders.some((f) => f.parentId === folder.id)) {
      put('notDestroyed', id, { type: 'mailboxHasChild', description: 'the mailbox has child mailboxes' });
      continue;
    }
    const ops: TxOp[] = [];
    if (folder.messages > 0) {
      if (args.onDestroyRemoveEmails !== true) {
        put('notDestroyed', id, { type: 'mailboxHasEmail', description: 'the mailbox has emails (set onDestroyRemoveEmails)' });
        continue;
      }
      ops.push({ op: 'expunge', folder: folder.name, uids: (await view.listing(folder)).messages.map((m) => m.uid) });
    }
    ops.push({ op: 'deleteFolder', name: folder.name });
    const result = await commit(ops);
    if (result.ok) (out.destroyed ??= []).push(id);
    else put('notDestroyed', id, setErrorOf(result));
  }
  out.newState = await view.state();
  return out;
};
