// SELECT / EXAMINE (with CONDSTORE and QRESYNC parameters, RFC 7162), CLOSE, UNSELECT.

import { has } from '../../acl.js';
import type { ImapSession } from '../session.js';
import { SelectedMailbox } from '../selected.js';
import { systemFlags, writeFetchFlags } from '../format.js';
import { encodeFlags, encodeNumbered, encodeVanished } from '../wire/encoder.js';
import type { Command } from '../wire/types.js';
import { authenticated, handler, selectedOnly } from './handler.js';
import { inSequenceSet } from './sets.js';
import { flagPermitted } from './store.js';
import { placeNeeding } from '../places.js';

type SelectCommand = Extract<Command, { kind: 'SELECT' | 'EXAMINE' }>;

async function open(s: ImapSession, tag: string, c: SelectCommand): Promise<void> {
  if (c.qresync !== undefined && !s.enabled.qresync) {
    await s.bad(tag, 'QRESYNC is not enabled');
    return;
  }
  if (s.selected !== null) {
    // RFC 7162 §3.2.11 / RFC 9051 §6.3.2: the old mailbox is closed first, and said so.
    s.select(null);
    await s.untagged('OK', 'Previous mailbox closed', { code: 'CLOSED' });
  }
  if (c.condstore) s.enabled.condstore = true;
  const place = await placeNeeding(s, tag, c.mailbox, 'r', 'read');
  if (place === null) return;
  const { api, mailboxId, rights } = place;
  const noticesBefore = s.ownNotices;
  const listing = await api.listMessageColumns(mailboxId, place.folder);
  if (!listing.ok) {
    await s.fail(tag, listing);
    return;
  }
  const { folder, messages } = listing.value;
  // RFC 4314 §4: a user who can change nothing in the folder gets it read-only.
  const readOnly = c.kind === 'EXAMINE' || ![...'stwe'].some((r) => has(rights, r));
  const view = new SelectedMailbox(folder.name, folder.folderId, folder.uidValidity, readOnly, folder.modseqHighest, folder.uidNext);
  if (place.kind !== 'personal') view.shared = { api, mailboxId, rights };
  view.loadColumns(messages);

  const keywords = new Set<string>();
  for (const list of view.flagsInUse()) for (const f of list) if (!f.startsWith('\\')) keywords.add(f);
  const flags = [...systemFlags, ...[...keywords].sort()];
  const out: Buffer[] = [encodeFlags(flags)];
  const line = (text: string): void => void out.push(Buffer.from(text + '\r\n'));
  const permanent = readOnly ? [] : [...flags, '\\*'].filter((f) => flagPermitted(rights, f));
  line(`* OK [PERMANENTFLAGS (${permanent.join(' ')})] Flags permitted`);
  out.push(encodeNumbered(view.exists, 'EXISTS'));
  if (!s.enabled.rev2) {
    out.push(encodeNumbered(0, 'RECENT'));
    const seen = view.flagListsHolding('\\Seen');
    let firstUnseen = 0;
    while (firstUnseen < view.exists && seen[view.flagListAt(firstUnseen)] === 1) firstUnseen++;
    if (firstUnseen < view.exists) line(`* OK [UNSEEN ${firstUnseen + 1}] First unseen`);
  }
  line(`* OK [UIDVALIDITY ${view.uidValidity}] UIDs valid`);
  line(`* OK [UIDNEXT ${view.uidNext}] Predicted next UID`);
  line(`* OK [HIGHESTMODSEQ ${view.modseqHighest}] Highest`);
  line(`* OK [MAILBOXID (${mailboxObjectId(folder.folderId, folder.uidValidity)})] Ok`);
  await s.write(Buffer.concat(out));

  if (c.qresync !== undefined && c.qresync.uidValidity === view.uidValidity) await resync(s, view, c.qresync);
  s.select(view);
  // A change noticed since the listing was asked for may be missing from it: it is picked up
  // before the tagged answer. A commit noticed before is in the listing (the worker notifies
  // once a commit is readable, on the channel the listing's answer comes back on). A shared
  // folder's mailbox was not watched until now: always look again.
  if (place.kind !== 'personal' || s.ownNotices !== noticesBefore) s.markDirty();
  await s.ok(tag, `${c.kind} completed`, { code: readOnly ? 'READ-ONLY' : 'READ-WRITE' });
}

/** RFC 7162 §3.2.5.2: what changed since the client's modseq: VANISHED (EARLIER), then FETCH. */
async function resync(s: ImapSession, view: SelectedMailbox, q: NonNullable<SelectCommand['qresync']>): Promise<void> {
  const since = Number(q.modseq);
  const where = s.where();
  const changes = await where.api.listMessages(where.mailboxId, view.name, { changedSince: since });
  if (!changes.ok) return;
  const maxUid = view.uids[view.uids.length - 1] ?? 0;
  const vanished = changes.value.vanished.filter((uid) => q.knownUids === undefined || inSequenceSet(q.knownUids, uid, Math.max(maxUid, uid)));
  if (vanished.length > 0) await s.write(encodeVanished(vanished, true));
  const parts: Buffer[] = [];
  for (const info of changes.value.messages) {
    const seq = view.seqOf(info.uid);
    if (seq === 0) continue;
    const w = s.writer().raw(`* ${seq} FETCH (`);
    writeFetchFlags(w, info, true);
    parts.push(w.raw(')').crlf().toBuffer());
  }
  if (parts.length > 0) await s.write(Buffer.concat(parts));
}

/** RFC 8474 MAILBOXID: stable across renames (folder id), new when a name is reused (UIDVALIDITY). */
export function mailboxObjectId(folderId: number, uidValidity: number): string {
  return `F${folderId}-${uidValidity}`;
}

export const select = handler<'SELECT'>(authenticated, (s, tag, c) => open(s, tag, c));
export const examine = handler<'EXAMINE'>(authenticated, (s, tag, c) => open(s, tag, c));

/** CLOSE expunges \Deleted messages silently (read-write only), then leaves the mailbox. */
export const close = handler<'CLOSE'>(selectedOnly, async (s, tag) => {
  const view = s.selected!;
  const { api, mailboxId, rights } = s.where();
  s.select(null);
  // RFC 4314 §4: CLOSE expunges only with the `e` right.
  if (!view.readOnly && has(rights, 'e')) {
    const listing = await api.listMessageColumns(mailboxId, view.name);
    if (listing.ok) {
      const { messages } = listing.value;
      const holding = messages.flagLists.map((flags) => flags.some((f) => f.toLowerCase() === '\\deleted'));
      const deleted: number[] = [];
      for (let i = 0; i < messages.count; i++) if (holding[messages.flagIndex[i]!] === true) deleted.push(messages.uids[i]!);
      if (deleted.length > 0) {
        const done = await api.commit({ mailboxId, ops: [{ op: 'expunge', folder: view.name, uids: deleted }] });
        if (!done.ok) {
          await s.fail(tag, done);
          return;
        }
      }
    }
  }
  await s.ok(tag, 'CLOSE completed');
});

export const unselect = handler<'UNSELECT'>(selectedOnly, async (s, tag) => {
  s.select(null);
  await s.ok(tag, 'UNSELECT completed');
});
