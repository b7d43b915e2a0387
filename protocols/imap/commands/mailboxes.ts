// CREATE (with CREATE-SPECIAL-USE, RFC 6154, and the missing parents), DELETE, RENAME,
// SUBSCRIBE, UNSUBSCRIBE: one durable commit each.

import type { TxOp } from '../../../engine/api.js';
import { folderName } from '../format.js';
import type { ImapSession } from '../session.js';
import { authenticated, handler } from './handler.js';

const specialUses = new Set(['\\Archive', '\\Drafts', '\\Junk', '\\Sent', '\\Trash']);

async function commit(s: ImapSession, tag: string, ops: TxOp[], done: string): Promise<void> {
  const result = await s.api!.commit({ mailboxId: s.account!.mailboxId, ops });
  if (!result.ok) {
    await s.fail(tag, result);
    return;
  }
  await s.ok(tag, done);
}

export const create = handler<'CREATE'>(authenticated, async (s, tag, c) => {
  const name = folderName(c.mailbox);
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
  const name = folderName(c.mailbox);
  if (s.selected !== null && s.selected.name === name) {
    s.select(null);
    await s.untagged('OK', 'Mailbox closed', { code: 'CLOSED' });
  }
  await commit(s, tag, [{ op: 'deleteFolder', name }], 'DELETE completed');
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

export const rename = handler<'RENAME'>(authenticated, async (s, tag, c) => {
  const from = folderName(c.from);
  const to = folderName(c.to);
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
});

export const subscribe = handler<'SUBSCRIBE'>(authenticated, (s, tag, c) => commit(s, tag, [{ op: 'subscribe', name: folderName(c.mailbox), subscribed: true }], 'SUBSCRIBE completed'));

export const unsubscribe = handler<'UNSUBSCRIBE'>(authenticated, (s, tag, c) => commit(s, tag, [{ op: 'subscribe', name: folderName(c.mailbox), subscribed: false }], 'UNSUBSCRIBE completed'));
