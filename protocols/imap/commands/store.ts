// STORE / UID STORE [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] (RFC 9051 §6.4.6, RFC 7162 §3.1.3).
// One durable commit; then the new flags (and MODSEQ once CONDSTORE is on) of every message in
// the set, and MODIFIED for those UNCHANGEDSINCE kept from changing.

import type { FlagMode } from '../../../engine/api.js';
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
  const listAfter = s.listAfter();
  if (live.length > 0) {
    const done = await s.api!.commit({
      mailboxId: s.account!.mailboxId,
      listAfter,
      ops: [
        {
          op: 'store',
          folder: view.name,
          uids: live,
          mode: modes[c.operation],
          flags: storableFlags(c.flags),
          ...(c.unchangedSince === undefined ? {} : { unchangedSince: Number(c.unchangedSince) }),
        },
      ],
    });
    if (!done.ok) {
      await s.fail(tag, done, policy);
      return;
    }
    const result = done.value.results[0];
    if (result?.op === 'store') modified = result.modified;
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

