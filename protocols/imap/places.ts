// Where an IMAP mailbox name lives and what this user may do there (RFC 2342 namespaces,
// RFC 4314 rights):
//
//   ""                personal: the user's own folders, every right
//   "Other Users/"    another user's folder shared with this one: `Other Users/<address>/<folder>`
//   "Public Folders/" the organisation's public folders: `Public Folders/<path>`
//
// Rights of shared folders come from the folder's ACL (protocols/acl.ts, Exchange semantics).
// A folder the user may not even see (no `l`, no `r`) answers as if it did not exist.

import type { FolderInfo, MailboxApi } from '../../engine/api.js';
import { type Result, fail, ok } from '../../engine/errors.js';
import { allRights, effectiveRights, has } from '../acl.js';
import type { PublicFolder } from '../frontend.js';
import { folderName } from './format.js';
import type { ImapSession } from './session.js';

export const publicPrefix = 'Public Folders';
export const otherUsersPrefix = 'Other Users';
const delimiter = '/';

export interface Place {
  readonly kind: 'personal' | 'public' | 'other';
  readonly api: MailboxApi;
  readonly mailboxId: string;
  /** The folder's name in its own mailbox. */
  readonly folder: string;
  /** The name the client uses. */
  readonly name: string;
  /** This user's rights there (RFC 4314 letters). */
  readonly rights: string;
  /** The mailbox owner's address (personal and other users' folders); null for public folders. */
  readonly owner: string | null;
  /** The folder, when it exists (always for shared places; personal ones are not looked up). */
  readonly info: FolderInfo | null;
}

/** Names in a shared namespace, split: `Public Folders/a/b` → public `a/b`; `Other Users/x@y/f` → other x@y, `f`. */
export function splitName(name: string): { kind: 'personal' } | { kind: 'public'; path: string } | { kind: 'other'; owner: string; folder: string } | { kind: 'root' } {
  if (name === publicPrefix || name === otherUsersPrefix) return { kind: 'root' };
  if (name.startsWith(publicPrefix + delimiter)) return { kind: 'public', path: name.slice(publicPrefix.length + 1) };
  if (name.startsWith(otherUsersPrefix + delimiter)) {
    const rest = name.slice(otherUsersPrefix.length + 1);
    const slash = rest.indexOf(delimiter);
    if (slash <= 0) return { kind: 'root' };
    return { kind: 'other', owner: rest.slice(0, slash).toLowerCase(), folder: rest.slice(slash + 1) };
  }
  return { kind: 'personal' };
}

/** Public folders this user may see (`l`), with their rights. */
export async function visiblePublicFolders(s: ImapSession): Promise<Result<Array<{ folder: PublicFolder; rights: string }>>> {
  if (s.context.publicFolders === undefined) return ok([]);
  const all = await s.context.publicFolders.list();
  if (!all.ok) return all;
  const me = s.account!.address;
  return ok(all.value.map((folder) => ({ folder, rights: effectiveRights(folder.folder.acl, me, false) })).filter((f) => has(f.rights, 'l')));
}

/**
 * The place of a client's mailbox name. NO_SUCH_FOLDER for a shared name that does not exist or
 * that the user may not see; a personal name is not looked up (the command's own call will say).
 */
export async function resolvePlace(s: ImapSession, name: string): Promise<Result<Place>> {
  const me = s.account!.address;
  const split = splitName(name);
  switch (split.kind) {
    case 'personal':
      return ok({ kind: 'personal', api: s.api!, mailboxId: s.account!.mailboxId, folder: name, name, rights: allRights, owner: me, info: null });
    case 'root':
      return fail('NO_SUCH_FOLDER', `${name} is a namespace, not a mailbox`);
    case 'public': {
      if (s.context.publicFolders === undefined) return fail('NO_SUCH_FOLDER', `no public folder ${split.path}`);
      const all = await s.context.publicFolders.list();
      if (!all.ok) return all;
      const folder = all.value.find((f) => f.path === split.path);
      const rights = folder === undefined ? '' : effectiveRights(folder.folder.acl, me, false);
      if (folder === undefined || rights === '') return fail('NO_SUCH_FOLDER', `no public folder ${split.path}`);
      return ok({ kind: 'public', api: s.context.mailboxes(folder.database), mailboxId: folder.mailboxId, folder: folder.path, name, rights, owner: null, info: folder.folder });
    }
    case 'other': {
      const account = await s.context.findAccount(split.owner);
      if (!account.ok) return account;
      if (account.value === null) return fail('NO_SUCH_FOLDER', `no mailbox ${name}`);
      const api = s.context.mailboxes(account.value.database);
      const folders = await api.folders(account.value.mailboxId);
      if (!folders.ok) return folders.code === 'NO_SUCH_MAILBOX' ? fail('NO_SUCH_FOLDER', `no mailbox ${name}`) : folders;
      const folderName = /^inbox$/i.test(split.folder) ? 'INBOX' : split.folder;
      const info = folders.value.find((f) => f.name === folderName);
      const isOwner = account.value.address === me;
      const rights = info === undefined ? '' : effectiveRights(info.acl, me, isOwner);
      if (info === undefined || rights === '') return fail('NO_SUCH_FOLDER', `no mailbox ${name}`);
      return ok({ kind: 'other', api, mailboxId: account.value.mailboxId, folder: info.name, name, rights, owner: account.value.address, info });
    }
  }
}

/**
 * The place of a command's mailbox when this user holds `right` there (RFC 4314 §4; '' for any
 * right at all). Otherwise answers the command itself (NO [NONEXISTENT], or NO [NOPERM] saying
 * that the user may not `action` it) and gives null. The one rights check of the commands that
 * name a mailbox.
 */
export async function placeNeeding(s: ImapSession, tag: string, mailbox: string, right: string, action: string): Promise<Place | null> {
  const place = await resolvePlace(s, folderName(mailbox));
  if (!place.ok) {
    await s.fail(tag, place);
    return null;
  }
  if (!has(place.value.rights, right)) {
    await s.no(tag, `You may not ${action} ${mailbox} (no ${right} right)`, { code: 'NOPERM' });
    return null;
  }
  return place.value;
}

/** As placeNeeding, with the folder looked up (resolvePlace does not look personal names up). */
export async function folderNeeding(s: ImapSession, tag: string, mailbox: string, right: string, action: string): Promise<(Place & { readonly info: FolderInfo }) | null> {
  const place = await placeNeeding(s, tag, mailbox, right, action);
  if (place === null) return null;
  if (place.info !== null) return { ...place, info: place.info };
  const folders = await place.api.folders(place.mailboxId);
  const info = folders.ok ? folders.value.find((f) => f.name === place.folder) : undefined;
  if (info === undefined) {
    await s.fail(tag, folders.ok ? fail('NO_SUCH_FOLDER', `No mailbox ${mailbox}`) : folders);
    return null;
  }
  return { ...place, info };
}

/** The client's name for a folder of a shared place's mailbox (a sibling or child of `place`). */
export function clientNameOf(place: Place, folder: string): string {
  if (place.kind === 'public') return `${publicPrefix}${delimiter}${folder}`;
  if (place.kind === 'other') return `${otherUsersPrefix}${delimiter}${place.owner}${delimiter}${folder}`;
  return folder;
}

/** RFC 4314 §2.1.1: the obsolete `c` and `d` said again for clients that only know them. */
export function withObsoleteRights(rights: string): string {
  return rights + (has(rights, 'k') ? 'c' : '') + (has(rights, 'e') ? 'd' : '');
}
