// EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, §6.4.9): the \Deleted messages (of the UID set)
// go in one durable commit, and the EXPUNGE (or VANISHED) responses follow from the view.

import { has } from '../../acl.js';
import type { ImapSession } from '../session.js';
import type { SequenceSet } from '../wire/types.js';
import { handler, selectedOnly } from './handler.js';

async function run(s: ImapSession, tag: string, name: string, set: SequenceSet | undefined): Promise<void> {
  const view = s.selected!;
  if (view.readOnly) {
    await s.no(tag, 'The mailbox is read-only', { code: 'READ-ONLY' });
    return;
  }
  const { api, mailboxId, rights } = s.where();
  if (!has(rights, 'e')) {
    await s.no(tag, 'You may not expunge messages here (no e right)', { code: 'NOPERM' });
    return;
  }
  // Flags another session set must count: bring the view up to date without announcing expunges
  // yet. Their change notices (sent before that session's answer) mark it stale; after our own
  // commits the view is current already, so this lists only when something else changed.
  await s.sync({ expunges: false });
  const within = set === undefined ? null : new Set(view.resolve(set, true) ?? []);
  // By row, over the view's columns: no MessageInfo or UID look-up per message.
  const uids = view.uids.filter((uid, row) => !view.pendingExpunge.has(uid) && view.hasFlagAt(row, '\\Deleted') && (within === null || within.has(uid)));
  if (uids.length > 0) {
    const listAfter = s.listAfter();
    const done = await api.commit({ mailboxId, ops: [{ op: 'expunge', folder: view.name, uids }], listAfter });
    if (!done.ok) {
      await s.fail(tag, done);
      return;
    }
    for (const uid of uids) view.pendingExpunge.add(uid);
    s.committed(done.value, listAfter);
  }
  await s.ok(tag, `${name} completed`, undefined, { expunges: true });
}

export const expunge = handler<'EXPUNGE'>(selectedOnly, (s, tag) => run(s, tag, 'EXPUNGE', undefined));
export const uidExpunge = handler<'UID EXPUNGE'>(selectedOnly, (s, tag, c) => run(s, tag, 'UID EXPUNGE', c.uids));
