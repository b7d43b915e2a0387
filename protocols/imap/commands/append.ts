// APPEND with MULTIAPPEND (RFC 3502: every message in one atomic, durable commit), flags,
// internal date, literal8 (BINARY) and UTF8 (RFC 6855) data; answers APPENDUID (RFC 4315).
// A missing folder gets NO [TRYCREATE]; size is bounded by APPENDLIMIT in the decoder.

import type { TxOp } from '../../../engine/api.js';
import { appendMessagesMax } from '../constants.js';
import { storableFlags } from '../format.js';
import { authenticated, handler } from './handler.js';
import { placeNeeding } from '../places.js';
import { flagPermitted } from './store.js';

export const append = handler<'APPEND'>(authenticated, async (s, tag, c) => {
  if (c.messages.length > appendMessagesMax) {
    await s.no(tag, `At most ${appendMessagesMax} messages per APPEND`, { code: 'LIMIT' });
    return;
  }
  for (const m of c.messages) {
    if (m.data.length > s.context.limits.messageBytesMax) {
      await s.no(tag, `Message over ${s.context.limits.messageBytesMax} bytes`, { code: 'TOOBIG' });
      return;
    }
  }
  const place = await placeNeeding(s, tag, c.mailbox, 'i', 'add messages to');
  if (place === null) return;
  const { api, mailboxId, rights } = place;
  const ops: TxOp[] = c.messages.map((m) => ({
    op: 'append',
    folder: place.folder,
    content: m.data,
    // RFC 4314 §4: flags the user may not set are left off.
    flags: storableFlags(m.flags).filter((f) => flagPermitted(rights, f)),
    ...(m.internalDate === undefined ? {} : { internalDateMs: m.internalDate.epochMs }),
  }));
  const listAfter = s.selected !== null && s.selected.name === place.folder && s.where().mailboxId === mailboxId ? s.listAfter() : undefined;
  const done = await api.commit({ mailboxId, ops, ...(listAfter === undefined ? {} : { listAfter }) });
  if (!done.ok) {
    if (done.code === 'NO_SUCH_FOLDER' && place.kind === 'personal') await s.no(tag, `No mailbox ${c.mailbox}`, { code: 'TRYCREATE' });
    else await s.fail(tag, done);
    return;
  }
  const uids: number[] = [];
  let uidValidity = 0;
  for (const [i, r] of done.value.results.entries()) {
    if (r.op !== 'append') continue;
    uids.push(r.uid);
    uidValidity = r.uidValidity;
    // Stored as given (an APPEND carries no header prefix): a client fetching what it just saved
    // reads it from the front end's cache. A copy, so the cache never holds the decoder's buffer.
    const data = c.messages[i]!.data;
    if (data.length <= s.contentCache.messageBytesMax) s.contentCache.rememberMessage(mailboxId, r.emailId, new Uint8Array(data));
  }
  if (listAfter !== undefined) s.committed(done.value, listAfter);
  await s.ok(tag, 'APPEND completed', { code: 'APPENDUID', uidValidity, uids });
});
