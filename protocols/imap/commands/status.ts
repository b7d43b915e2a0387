// STATUS (RFC 9051 §6.3.11) with SIZE (RFC 8438), HIGHESTMODSEQ (RFC 7162), APPENDLIMIT
// (RFC 7889), MAILBOXID (RFC 8474) and DELETED; also used by LIST-STATUS (RFC 5819).

import type { FolderInfo, MailboxApi } from '../../../engine/api.js';
import { folderNeeding } from '../places.js';
import type { Result } from '../../../engine/errors.js';
import { hasFlag } from '../format.js';
import type { ImapSession } from '../session.js';
import { encodeStatusData } from '../wire/encoder.js';
import type { StatusItem } from '../wire/types.js';
import { authenticated, handler } from './handler.js';
import { mailboxObjectId } from './select.js';

/** The `* STATUS` line for one folder; reads the messages only when DELETED is asked. */
export async function statusLine(
  s: ImapSession,
  folder: FolderInfo,
  clientName: string,
  items: readonly StatusItem[],
  where: { readonly api: MailboxApi; readonly mailboxId: string } = { api: s.api!, mailboxId: s.account!.mailboxId },
): Promise<Result<Buffer>> {
  if (items.includes('HIGHESTMODSEQ')) s.enabled.condstore = true;
  let deleted = 0;
  if (items.includes('DELETED')) {
    const listing = await where.api.listMessages(where.mailboxId, folder.name);
    if (!listing.ok) return listing;
    deleted = listing.value.messages.filter((m) => hasFlag(m, '\\Deleted')).length;
  }
  const values = items.map((item): readonly [StatusItem, number | string] => {
    switch (item) {
      case 'MESSAGES':
        return [item, folder.messages];
      case 'RECENT':
        return [item, 0];
      case 'UIDNEXT':
        return [item, folder.uidNext];
      case 'UIDVALIDITY':
        return [item, folder.uidValidity];
      case 'UNSEEN':
        return [item, folder.unseen];
      case 'DELETED':
        return [item, deleted];
      case 'SIZE':
        return [item, folder.sizeBytes];
      case 'HIGHESTMODSEQ':
        return [item, folder.modseqHighest];
      case 'APPENDLIMIT':
        return [item, s.context.limits.messageBytesMax];
      case 'MAILBOXID':
        return [item, mailboxObjectId(folder.folderId, folder.uidValidity)];
    }
  });
  return { ok: true, value: encodeStatusData(clientName, values, { utf8: s.enabled.utf8 }) };
}

export const status = handler<'STATUS'>(authenticated, async (s, tag, c) => {
  const place = await folderNeeding(s, tag, c.mailbox, 'r', 'read');
  if (place === null) return;
  const line = await statusLine(s, place.info, place.name, c.items, place);
  if (!line.ok) {
    await s.fail(tag, line);
    return;
  }
  await s.write(line.value);
  await s.ok(tag, 'STATUS completed');
});
