// QUOTA (RFC 9208) with the STORAGE resource: one quota root "" per user, in units of 1024
// octets. An unlimited user has no quota root. SETQUOTA is for administrators (quire user add
// --quota), so it is refused.

import type { ImapSession } from '../session.js';
import { folderName } from '../format.js';
import { authenticated, handler } from './handler.js';

async function quotaLine(s: ImapSession): Promise<{ line: string | null; ok: boolean }> {
  const info = await s.api!.mailbox(s.account!.mailboxId);
  if (!info.ok) return { line: null, ok: false };
  if (info.value.quotaBytes === null) return { line: null, ok: true };
  const used = Math.ceil(info.value.usedBytes / 1024);
  const limit = Math.floor(info.value.quotaBytes / 1024);
  return { line: `* QUOTA "" (STORAGE ${used} ${limit})\r\n`, ok: true };
}

export const getquotaroot = handler<'GETQUOTAROOT'>(authenticated, async (s, tag, c) => {
  const folders = await s.api!.folders(s.account!.mailboxId);
  if (!folders.ok) {
    await s.fail(tag, folders);
    return;
  }
  const name = folderName(c.mailbox);
  if (!folders.value.some((f) => f.name === name)) {
    await s.no(tag, `No mailbox ${c.mailbox}`, { code: 'NONEXISTENT' });
    return;
  }
  const quota = await quotaLine(s);
  const w = s.writer().raw('* QUOTAROOT ').mailbox(name);
  if (quota.line !== null) w.raw(' ""');
  await s.write(w.crlf().toBuffer());
  if (quota.line !== null) await s.write(quota.line);
  await s.ok(tag, 'GETQUOTAROOT completed');
});

export const getquota = handler<'GETQUOTA'>(authenticated, async (s, tag, c) => {
  const quota = await quotaLine(s);
  if (c.root !== '' || quota.line === null) {
    await s.no(tag, 'No such quota root', { code: 'NONEXISTENT' });
    return;
  }
  await s.write(quota.line);
  await s.ok(tag, 'GETQUOTA completed');
});

export const setquota = handler<'SETQUOTA'>(authenticated, async (s, tag) => {
  await s.no(tag, 'Quotas are set by the administrator', { code: 'NOPERM' });
});
