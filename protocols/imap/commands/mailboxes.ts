// CREATE (with CREATE-SPECIAL-USE, RFC 6154, and the missing parents), DELETE, RENAME,
// SUBSCRIBE, UNSUBSCRIBE: one durable commit each.

import type { TxOp } from '../../../engine/api.js';
import { folderName } from '../format.js';
import type { ImapSession } from '../session.js';
import { authenticated, handler } from './handler.js';
import { has } from '../../acl.js';
import { placeNeeding, resolvePlace, splitName } from '../places.js';

const specialUses = new Set(['\\Archive', '\\Drafts', '\\Junk', '\\Sent', '\\Trash']);

async function commit(s: ImapSession, tag: string, ops: TxOp[], done: string): Promise<void> {
  const result = await s.api!.commit({ mailboxId: s.account!.mailboxId, ops });
  if (!result.ok) {
    await s.fail(tag, result);
    return;
  }
  await s.ok(tag, done);
}

/**
 * CREATE in a shared namespace: the parent must exist and grant `k`; the new folder goes into
 * the parent's mailbox and takes the parent's ACL (as Exchange's subfolders do). A top-level
 * public folder is the administrator's (`quire publicfolder add`).
 */
async function createShared(s: ImapSession, tag: string, name: string): Promise<void> {
  const slash = name.lastIndexOf('/');
  const parentName = name.slice(0, slash);
  const split = splitName(parentName);
  if (split.kind === 'root' || slash < 0) {
    await s.no(tag, 'Top-level shared folders are created by the administrator', { code: 'NOPERM' });
    return;
  }
  const parent = await resolvePlace(s, parentName);
  if (!parent.ok) {
    await s.fail(tag, parent);
    return;
  }
  if (!has(parent.value.rights, 'k')) {
    await s.no(tag, `You may not create folders in ${parentName} (no k right)`, { code: 'NOPERM' });
    return;
  }
  const folder = parent.value.folder + name.slice(slash);
  const acl = parent.value.info?.acl ?? {};
  const ops: TxOp[] = [{ op: 'createFolder', name: folder }, ...Object.entries(acl).map(([identifier, rights]): TxOp => ({ op: 'setAcl', folder, identifier, rights }))];
  const result = await parent.value.api.commit({ mailboxId: parent.value.mailboxId, ops });
  if (!result.ok) {
    await s.fail(tag, result);
    return;
  }
  await s.ok(tag, 'CREATE completed');
}

export const create = handler<'CREATE'>(authenticated, async (s, tag, c) => {
  const name = folderName(c.mailbox);
  if (splitName(name).kind !== 'personal') {
    await createShared(s, tag, name);
    return;
  }
  if (name === 'INBOX') {
    await s.no(tag, 'INBOX exists', { code: 'ALREADYEXISTS' });
    return;
  }
  const uses = c.specialUse.map((u) => [...specialUses].find((k) => k.toLowerCase() === u.toLowerCase()));
  if (uses.length > 1 || uses.some((u) => u === undefined)) {
    await s.no(tag, 'Unsupported special-use attribute', { code: 'USEATTR' });
    return;
  }
  const folders = await s.api!.folders(s.account!.mailboxId);
  if (!folders.ok) {
    await s.fail(tag, folders);
    return;
  }
  const ops = parentsNeeded(new Set(folders.value.map((f) => f.name)), name);
  if (ops === null) {
    await s.no(tag, 'Empty hierarchy level in the name', { code: 'CANNOT' });
    return;
  }
  ops.push({ op: 'createFolder', name, ...(uses[0] === undefined ? {} : { specialUse: uses[0] }) });
  await commit(s, tag, ops, 'CREATE completed');
});

export const deleteMailbox = handler<'DELETE'>(authenticated, async (s, tag, c) => {
  const place = await placeNeeding(s, tag, c.mailbox, 'x', 'delete');
  if (place === null) return;
  const { api, mailboxId, folder } = place;
  if (s.selected !== null && s.selected.name === folder && s.where().mailboxId === mailboxId) {
    s.select(null);
    await s.untagged('OK', 'Mailbox closed', { code: 'CLOSED' });
  }
  const result = await api.commit({ mailboxId, ops: [{ op: 'deleteFolder', name: folder }] });
  if (!result.ok) {
    await s.fail(tag, result);
    return;
  }
  await s.ok(tag, 'DELETE completed');
});

/**
 * The createFolder ops for the superior hierarchy `name` needs (RFC 9051 §6.3.4 and §6.3.6), or
 * null when the name has an empty level.
 */
function parentsNeeded(existing: ReadonlySet<string>, name: string): TxOp[] | null {
  const parts = name.split('/');
  if (parts.some((p) => p === '')) return null;
  const ops: TxOp[] = [];
  for (let i = 1; i < parts.length; i++) {
    const parent = parts.slice(0, i).join('/');
    if (!existing.has(parent)) ops.push({ op: 'createFolder', name: parent });
  }
  return ops;
}

/** RENAME of the user's own folder (INBOX's messages move, RFC 9051 §6.3.6). */
async function renamePersonal(s: ImapSession, tag: string, from: string, to: string): Promise<void> {
  const mailboxId = s.account!.mailboxId;
  const folders = await s.api!.folders(mailboxId);
  if (!folders.ok) {
    await s.fail(tag, folders);
    return;
  }
  const existing = new Set(folders.value.map((f) => f.name));
  const ops = parentsNeeded(existing, to);
  if (ops === null) {
    await s.no(tag, 'Empty hierarchy level in the name', { code: 'CANNOT' });
    return;
  }
  if (from !== 'INBOX') {
    ops.push({ op: 'renameFolder', from, to });
    await commit(s, tag, ops, 'RENAME completed');
    if (s.selected !== null && s.selected.name === from) s.selected.name = to;
    return;
  }
  // RFC 9051 §6.3.6: renaming INBOX moves all its messages to a new mailbox with the given name
  // and leaves INBOX empty; INBOX's inferior names are not renamed. One transaction, so the
  // messages are either all in the new mailbox or all still in INBOX.
  if (existing.has(to)) {
    await s.no(tag, `Mailbox ${to} exists`, { code: 'ALREADYEXISTS' });
    return;
  }
  const listing = await s.api!.listMessages(mailboxId, 'INBOX');
  if (!listing.ok) {
    await s.fail(tag, listing);
    return;
  }
  ops.push({ op: 'createFolder', name: to });
  const uids = listing.value.messages.map((m) => m.uid);
  if (uids.length > 0) ops.push({ op: 'move', folder: 'INBOX', uids, to });
  await commit(s, tag, ops, 'RENAME completed');
}

/** RENAME within one mailbox: `x` on the old name, `k` on the new name's parent (RFC 4314 §4). */
export const rename = handler<'RENAME'>(authenticated, async (s, tag, c) => {
  const from = await resolvePlace(s, folderName(c.from));
  if (!from.ok) {
    await s.fail(tag, from);
    return;
  }
  const toName = folderName(c.to);
  const toSplit = splitName(toName);
  const sameNamespace = from.value.kind === toSplit.kind && (toSplit.kind !== 'other' || toSplit.owner === from.value.owner);
  if (!sameNamespace) {
    await s.no(tag, 'A folder cannot be renamed into another namespace', { code: 'CANNOT' });
    return;
  }
  if (from.value.kind === 'personal') {
    await renamePersonal(s, tag, from.value.folder, toName);
    return;
  }
  const to = toSplit.kind === 'public' ? toSplit.path : toSplit.kind === 'other' ? toSplit.folder : toName;
  const slash = toName.lastIndexOf('/');
  const parent = slash < 0 ? null : await resolvePlace(s, toName.slice(0, slash));
  if (!has(from.value.rights, 'x') || parent === null || !parent.ok || parent.value.mailboxId !== from.value.mailboxId || !has(parent.value.rights, 'k')) {
    await s.no(tag, 'Renaming needs x on the folder and k on the new parent, in the same mailbox', { code: 'NOPERM' });
    return;
  }
  const result = await from.value.api.commit({ mailboxId: from.value.mailboxId, ops: [{ op: 'renameFolder', from: from.value.folder, to }] });
  if (!result.ok) {
    await s.fail(tag, result);
    return;
  }
  if (s.selected !== null && s.selected.name === from.value.folder && s.where().mailboxId === from.value.mailboxId) s.selected.name = to;
  await s.ok(tag, 'RENAME completed');
});

export const subscribe = handler<'SUBSCRIBE'>(authenticated, (s, tag, c) => commit(s, tag, [{ op: 'subscribe', name: folderName(c.mailbox), subscribed: true }], 'SUBSCRIBE completed'));

export const unsubscribe = handler<'UNSUBSCRIBE'>(authenticated, (s, tag, c) => commit(s, tag, [{ op: 'subscribe', name: folderName(c.mailbox), subscribed: false }], 'UNSUBSCRIBE completed'));
