// STORE / UID STORE [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] (RFC 9051 §6.4.6, RFC 7162 §3.1.3).
// One durable commit; then the new flags (and MODSEQ once CONDSTORE is on) of every message in
// the set, and MODIFIED for those UNCHANGEDSINCE kept from changing.

import type { FlagMode, TxOp } from '../../../engine/api.js';
import { has } from '../../acl.js';
import type { SelectedMailbox } from '../selected.js';
import type { CommandOf } from './handler.js';
import { storableFlags, writeFetchFlags } from '../format.js';
import { handler, selectedOnly } from './handler.js';

const modes: Record<'replace' | 'add' | 'remove', FlagMode> = { replace: 'set', add: 'add', remove: 'remove' };

export const store = handler<'STORE'>(selectedOnly, async (s, tag, c) => {
  const view = s.selected!;
  const policy = { expunges: c.uid };
  const uids = view.resolve(c.sequenceSet, c.uid);
  if (uids === null) {
    await s.bad(tag, 'Invalid message sequence number');
    return;
  }
  if (view.readOnly) {
    await s.no(tag, 'The mailbox is read-only', { code: 'READ-ONLY' }, policy);
    return;
  }
  if (c.unchangedSince !== undefined) s.enabled.condstore = true;
  const live = uids.filter((uid) => !view.pendingExpunge.has(uid));
  let modified: number[] = [];
  const { api, mailboxId, rights } = s.where();
  const ops = storeOps(view, live, c, rights);
  const listAfter = s.listAfter();
  if (ops.length > 0) {
    const done = await api.commit({ mailboxId, listAfter, ops });
    if (!done.ok) {
      await s.fail(tag, done, policy);
      return;
    }
    modified = [...new Set(done.value.results.flatMap((r) => (r.op === 'store' ? r.modified : [])))];
    s.committed(done.value, listAfter);
  } else {
    s.markDirty();
  }
  // Fetch the new state (it came with the commit's answer); this command reports its own messages below, the sync the others'.
  const own = new Set(uids);
  await s.sync({ expunges: false }, { silent: own });
  const notModified = new Set(modified);
  const parts: Buffer[] = [];
  for (const uid of uids) {
    const info = view.infos.get(uid);
    const seq = view.seqOf(uid);
    if (info === undefined || seq === 0 || notModified.has(uid)) continue;
    const w = s.writer().raw(`* ${seq} FETCH (`);
    if (!c.silent) writeFetchFlags(w, info, s.enabled.condstore);
    else if (s.enabled.condstore) w.raw(`UID ${uid} MODSEQ (${info.modseq})`);
    else continue;
    parts.push(w.raw(')').crlf().toBuffer());
  }
  if (parts.length > 0) await s.write(Buffer.concat(parts));
  if (modified.length > 0) {
    const numbers = c.uid ? modified : modified.map((uid) => view.seqOf(uid)).filter((n) => n > 0);
    await s.ok(tag, 'Conditional STORE failed for some messages', { code: 'MODIFIED', numbers }, policy);
    return;
  }
  await s.ok(tag, 'STORE completed', undefined, policy);
});


/** May a user with these rights change this flag? RFC 4314 §4: \Seen needs s, \Deleted t, any other w. */
export function flagPermitted(rights: string, flag: string): boolean {
  const lower = flag.toLowerCase();
  return has(rights, lower === '\\seen' ? 's' : lower === '\\deleted' ? 't' : 'w');
}

/**
 * The store operations for the flags this user may change; the others are left as they are,
 * silently (RFC 4314 §4). A replacing STORE without every flag right becomes an add of the
 * permitted flags asked for and a remove of the permitted flags the messages have and were not asked for.
 */
function storeOps(view: SelectedMailbox, uids: readonly number[], c: CommandOf<'STORE'>, rights: string): TxOp[] {
  if (uids.length === 0) return [];
  const flags = storableFlags(c.flags);
  const base = { op: 'store' as const, folder: view.name, uids, ...(c.unchangedSince === undefined ? {} : { unchangedSince: Number(c.unchangedSince) }) };
  if (has(rights, 'stw')) return [{ ...base, mode: modes[c.operation], flags }];
  const permitted = flags.filter((f) => flagPermitted(rights, f));
  if (c.operation !== 'replace') return permitted.length === 0 ? [] : [{ ...base, mode: modes[c.operation], flags: permitted }];
  const asked = new Set(permitted.map((f) => f.toLowerCase()));
  const present = new Set(uids.flatMap((uid) => view.infos.get(uid)?.flags ?? []).filter((f) => flagPermitted(rights, f) && !asked.has(f.toLowerCase())));
  const ops: TxOp[] = [];
  if (permitted.length > 0) ops.push({ ...base, mode: 'add', flags: permitted });
  if (present.size > 0) ops.push({ ...base, mode: 'remove', flags: [...present] });
  return ops;
}
