// The ACL extension (RFC 4314): GETACL, SETACL, DELETEACL, LISTRIGHTS, MYRIGHTS, on the user's
// own folders (sharing them with other users, who find them under "Other Users/") and on the
// public folders. Changing or reading an ACL needs the `a` right; the owner of a mailbox has
// every right on it, always. Each change is one durable commit (an AclSet event).
//
// Rights letters: lrswipkxtea (RIGHTS=texk). The obsolete `c` and `d` of RFC 2086 are taken in
// SETACL (c = k, d = x t e) and said again in answers next to the rights they stand for.

import type { FolderInfo } from '../../../engine/api.js';
import { type Result, fail, ok } from '../../../engine/errors.js';
import { allRights, anonymousIdentifier, anyoneIdentifier, canonical, normalizeIdentifier } from '../../acl.js';
import { type Place, folderNeeding, withObsoleteRights } from '../places.js';
import type { ImapSession } from '../session.js';
import { authenticated, handler } from './handler.js';

/**
 * RFC 4314 §3.1 rights text: an optional + or - and letters. Unknown letters are BAD (the
 * RFC's own example refuses upper case and `q`); `c` and `d` stand for k and x t e.
 */
export function parseRights(text: string): Result<{ mode: 'set' | 'add' | 'remove'; rights: string }> {
  const mode = text.startsWith('+') ? 'add' : text.startsWith('-') ? 'remove' : 'set';
  const letters = mode === 'set' ? text : text.slice(1);
  let rights = '';
  for (const letter of letters) {
    if (letter === 'c') rights += 'k';
    else if (letter === 'd') rights += 'xte';
    else if (allRights.includes(letter)) rights += letter;
    else return fail('INVALID_ARGUMENT', `The ${JSON.stringify(letter)} right is not supported (rights are ${allRights})`);
  }
  return ok({ mode, rights: canonical(rights) });
}

/** Who may be named in an ACL: anyone, anonymous, or a user of this organisation (by address). */
async function checkIdentifier(s: ImapSession, identifier: string): Promise<Result<string>> {
  const id = normalizeIdentifier(identifier);
  if (id === anyoneIdentifier || id === anonymousIdentifier) return ok(id);
  const account = await s.context.findAccount(id);
  if (!account.ok) return account;
  if (account.value === null) return fail('NO_SUCH_USER', `no user ${identifier} (identifiers are addresses, anyone or anonymous)`);
  return ok(account.value.address);
}

/** The ACL entries as GETACL says them: the owner's (personal folders) first, then the stored ones. */
function entriesOf(place: Place, folder: FolderInfo): Array<[string, string]> {
  const stored = Object.entries(folder.acl ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return place.owner === null ? stored : [[place.owner, allRights], ...stored.filter(([id]) => id !== place.owner)];
}

export const getacl = handler<'GETACL'>(authenticated, async (s, tag, c) => {
  const place = await folderNeeding(s, tag, c.mailbox, 'a', 'administer');
  if (place === null) return;
  const w = s.writer().raw('* ACL ').mailbox(place.name);
  for (const [identifier, rights] of entriesOf(place, place.info)) w.sp().astring(identifier).sp().astring(withObsoleteRights(rights));
  await s.write(w.crlf().toBuffer());
  await s.ok(tag, 'GETACL completed');
});

async function change(s: ImapSession, tag: string, mailbox: string, identifierText: string, rightsText: string | null, done: string): Promise<void> {
  const parsed = rightsText === null ? null : parseRights(rightsText);
  if (parsed !== null && !parsed.ok) {
    await s.bad(tag, parsed.message);
    return;
  }
  const place = await folderNeeding(s, tag, mailbox, 'a', 'administer');
  if (place === null) return;
  const identifier = await checkIdentifier(s, identifierText);
  if (!identifier.ok) {
    await s.fail(tag, identifier);
    return;
  }
  if (place.owner === identifier.value) {
    await s.no(tag, "The mailbox owner's rights cannot be changed", { code: 'CANNOT' });
    return;
  }
  let rights: string | null = null;
  if (parsed !== null) {
    const current = place.info.acl?.[identifier.value] ?? '';
    const { mode, rights: given } = parsed.value;
    rights = mode === 'set' ? given : mode === 'add' ? canonical(current + given) : [...current].filter((r) => !given.includes(r)).join('');
  }
  const committed = await place.api.commit({ mailboxId: place.mailboxId, ops: [{ op: 'setAcl', folder: place.folder, identifier: identifier.value, rights }] });
  if (!committed.ok) {
    await s.fail(tag, committed);
    return;
  }
  await s.ok(tag, done);
}

export const setacl = handler<'SETACL'>(authenticated, (s, tag, c) => change(s, tag, c.mailbox, c.identifier, c.rights, 'SETACL completed'));
export const deleteacl = handler<'DELETEACL'>(authenticated, (s, tag, c) => change(s, tag, c.mailbox, c.identifier, null, 'DELETEACL completed'));

/** RFC 4314 §3.7: the owner holds every right always; anyone else may be given each right on its own. */
export const listrights = handler<'LISTRIGHTS'>(authenticated, async (s, tag, c) => {
  const place = await folderNeeding(s, tag, c.mailbox, 'a', 'administer');
  if (place === null) return;
  const identifier = normalizeIdentifier(c.identifier);
  const w = s.writer().raw('* LISTRIGHTS ').mailbox(place.name).sp().astring(identifier);
  if (place.owner === identifier) w.sp().astring(allRights);
  else {
    w.raw(' ""');
    for (const right of allRights) w.raw(` ${right}`);
  }
  await s.write(w.crlf().toBuffer());
  await s.ok(tag, 'LISTRIGHTS completed');
});

/** RFC 4314 §3.8: any right at all on the mailbox lets the user ask. */
export const myrights = handler<'MYRIGHTS'>(authenticated, async (s, tag, c) => {
  const place = await folderNeeding(s, tag, c.mailbox, '', 'see');
  if (place === null) return;
  await s.write(s.writer().raw('* MYRIGHTS ').mailbox(place.name).sp().astring(withObsoleteRights(place.rights)).crlf().toBuffer());
  await s.ok(tag, 'MYRIGHTS completed');
});
