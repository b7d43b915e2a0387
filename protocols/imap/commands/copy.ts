// COPY / UID COPY and MOVE / UID MOVE (RFC 9051 §6.4.7-8, RFC 6851): one durable commit;
// COPYUID (RFC 4315) pairs source and destination UIDs. A MOVE sends COPYUID untagged, then the
// source's EXPUNGE (or VANISHED) responses, then the tagged OK.

import { folderName } from '../format.js';
import type { ImapSession } from '../session.js';
import type { Command } from '../wire/types.js';
import { handler, selectedOnly } from './handler.js';

type CopyCommand = Extract<Command, { kind: 'COPY' | 'MOVE' }>;

async function run(s: ImapSession, tag: string, c: CopyCommand): Promise<void> {
  const view = s.selected!;
  const isMove = c.kind === 'MOVE';
  const policy = { expunges: c.uid || isMove };
  const uids = view.resolve(c.sequenceSet, c.uid);
  if (uids === null) {
    await s.bad(tag, 'Invalid message sequence number');
    return;
  }
  if (isMove && view.readOnly) {
    await s.no(tag, 'The mailbox is read-only', { code: 'READ-ONLY' }, policy);
    return;
  }
  const live = uids.filter((uid) => !view.pendingExpunge.has(uid));
  if (live.length === 0) {
    await s.ok(tag, `${c.kind} completed (no messages)`, undefined, policy);
    return;
  }
  const to = folderName(c.mailbox);
  const done = await s.api!.commit({ mailboxId: s.account!.mailboxId, ops: [{ op: isMove ? 'move' : 'copy', folder: view.name, uids: live, to }] });
  if (!done.ok) {
    if (done.code === 'NO_SUCH_FOLDER') await s.no(tag, `No mailbox ${c.mailbox}`, { code: 'TRYCREATE' }, policy);
    else await s.fail(tag, done, policy);
    return;
  }
  const result = done.value.results[0];
  const code =
    result !== undefined && (result.op === 'copy' || result.op === 'move') && result.uids.length > 0
      ? { code: 'COPYUID' as const, uidValidity: result.uidValidity, sourceUids: result.sourceUids, destinationUids: result.uids }
      : undefined;
  s.markDirty();
  if (!isMove) {
    await s.ok(tag, 'COPY completed', code, policy);
    return;
  }
  if (code !== undefined) await s.untagged('OK', 'Moved', code);
  if (to !== view.name) for (const uid of live) view.pendingExpunge.add(uid);
  await s.ok(tag, 'MOVE completed', undefined, policy);
}

export const copy = handler<'COPY'>(selectedOnly, (s, tag, c) => run(s, tag, c));
export const move = handler<'MOVE'>(selectedOnly, (s, tag, c) => run(s, tag, c));
