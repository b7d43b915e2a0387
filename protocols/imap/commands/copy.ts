// COPY / UID COPY and MOVE / UID MOVE (RFC 9051 §6.4.7-8, RFC 6851): one durable commit;
// COPYUID (RFC 4315) pairs source and destination UIDs. A MOVE sends COPYUID untagged, then the
// source's EXPUNGE (or VANISHED) responses, then the tagged OK.

import { folderName } from '../format.js';
import type { ImapSession } from '../session.js';
import type { Command } from '../wire/types.js';
import { handler, selectedOnly } from './handler.js';
import { type CommitResult, type OpResult, type TxOp, splitMessage } from '../../../engine/api.js';
import { type Result, ok } from '../../../engine/errors.js';
import { has } from '../../acl.js';
import { type Place, resolvePlace } from '../places.js';
import { flagPermitted } from './store.js';

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
  const source = s.where();
  // RFC 4314 §4 / RFC 6851 §3.3: MOVE takes messages away, which needs t and e on the source.
  if (isMove && !has(source.rights, 'te')) {
    await s.no(tag, 'You may not remove messages from this mailbox (no t or e right)', { code: 'NOPERM' }, policy);
    return;
  }
  const target = await resolvePlace(s, folderName(c.mailbox));
  if (!target.ok) {
    await s.fail(tag, target, policy);
    return;
  }
  if (!has(target.value.rights, 'i')) {
    await s.no(tag, `You may not add messages to ${c.mailbox} (no i right)`, { code: 'NOPERM' }, policy);
    return;
  }
  const to = target.value.folder;
  const sameMailbox = target.value.mailboxId === source.mailboxId;
  const done = sameMailbox
    ? await source.api.commit({ mailboxId: source.mailboxId, ops: [{ op: isMove ? 'move' : 'copy', folder: view.name, uids: live, to }] })
    : await copyAcross(s, view.name, live, target.value, isMove);
  if (!done.ok) {
    if (done.code === 'NO_SUCH_FOLDER' && target.value.kind === 'personal') await s.no(tag, `No mailbox ${c.mailbox}`, { code: 'TRYCREATE' }, policy);
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
  if (!sameMailbox || to !== view.name) for (const uid of live) view.pendingExpunge.add(uid);
  await s.ok(tag, 'MOVE completed', undefined, policy);
}

export const copy = handler<'COPY'>(selectedOnly, (s, tag, c) => run(s, tag, c));
export const move = handler<'MOVE'>(selectedOnly, (s, tag, c) => run(s, tag, c));

/**
 * COPY or MOVE into another mailbox (a public folder, another user's folder, or back): each
 * message is read and appended there in one commit (flags the user may not set there left off);
 * a MOVE then expunges the originals in a second commit. The two commits are not one atomic
 * step: a failure between them leaves the messages in both places, never in neither.
 */
async function copyAcross(s: ImapSession, folder: string, uids: readonly number[], target: Place, isMove: boolean): Promise<Result<CommitResult>> {
  const source = s.where();
  const view = s.selected!;
  const ops: TxOp[] = [];
  const copied: number[] = [];
  for (const uid of uids) {
    const bytes = await source.api.readMessage(source.mailboxId, folder, uid);
    if (!bytes.ok) {
      if (bytes.code === 'NO_SUCH_MESSAGE') continue;
      return bytes;
    }
    const info = view.infos.get(uid);
    const flags = (info?.flags ?? []).filter((f) => flagPermitted(target.rights, f));
    ops.push({ op: 'append', folder: target.folder, ...splitMessage(bytes.value, info?.prefixBytes), flags, ...(info === undefined ? {} : { internalDateMs: info.internalDateMs }) });
    copied.push(uid);
  }
  if (ops.length === 0) return ok({ results: [], modseqHighest: 0, position: 0 });
  const appended = await target.api.commit({ mailboxId: target.mailboxId, ops });
  if (!appended.ok) return appended;
  if (isMove) {
    const expunged = await source.api.commit({ mailboxId: source.mailboxId, ops: [{ op: 'expunge', folder, uids: copied }] });
    if (!expunged.ok) return expunged;
  }
  const appends = appended.value.results.filter((r): r is Extract<OpResult, { op: 'append' }> => r.op === 'append');
  const result: OpResult = { op: isMove ? 'move' : 'copy', uidValidity: appends[0]?.uidValidity ?? 0, sourceUids: copied, uids: appends.map((r) => r.uid) };
  return ok({ ...appended.value, results: [result] });
}
