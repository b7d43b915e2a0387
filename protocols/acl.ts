// Access control shared by every front end and the admin side: the RFC 4314 rights, Exchange's
// folder permission roles as sets of those rights, and whose entry of a folder's ACL applies to
// whom. The engine only stores ACLs (engine/api.ts setAcl); front ends enforce them.
//
// Exchange semantics, not a union: a user's own entry, when there is one, is all the user gets;
// otherwise the `anyone` entry (Exchange's Default) applies. So `none` for one user really locks
// that user out even when Default is Author. `anonymous` (Exchange's Anonymous) is the sender of
// mail arriving over SMTP at a mail-enabled folder: it needs `p` (post) for the mail to be taken.
// The owner of a personal mailbox always has every right on its folders.

/** Every right, in RFC 4314's order: lookup, read, keep seen, write flags, insert, post, create
 * folders, delete folder, delete messages (\Deleted), expunge, administer. */
export const allRights = 'lrswipkxtea';

export const anyoneIdentifier = 'anyone';
export const anonymousIdentifier = 'anonymous';

/**
 * Exchange 2013's folder permission roles as RFC 4314 rights. Per Exchange:
 * - none: FolderVisible → l
 * - reviewer: FolderVisible, ReadItems → l r
 * - author: + CreateItems, EditOwnedItems, DeleteOwnedItems → l r i p. IMAP messages carry no
 *   owner, so "own items" cannot be told apart: an author adds mail and reads, and neither flags
 *   nor deletes (that needs editor).
 * - editor: + EditAllItems, DeleteAllItems → l r s w i p t e. `s` is here and not with reviewers
 *   and authors because \Seen is one state per folder, shared by everyone who reads it.
 * - owner: + CreateSubfolders, FolderOwner → every right (k x a too).
 */
export const roleRights = {
  owner: 'lrswipkxtea',
  editor: 'lrswipte',
  author: 'lrip',
  reviewer: 'lr',
  none: 'l',
} as const;
export type Role = keyof typeof roleRights;
export const roles = Object.keys(roleRights) as Role[];

/** The default ACL of a new top-level public folder, as Exchange gives it: Default Author, Anonymous CreateItems (post). */
export const publicFolderAclDefault: Readonly<Record<string, string>> = { [anyoneIdentifier]: roleRights.author, [anonymousIdentifier]: 'p' };

/** Rights letters in RFC order without repeats (only letters of allRights kept). */
export function canonical(rights: string): string {
  return [...allRights].filter((r) => rights.includes(r)).join('');
}

/** The role whose rights are exactly these, or null (a custom set). */
export function roleOf(rights: string): Role | null {
  const c = canonical(rights);
  return roles.find((role) => roleRights[role] === c) ?? null;
}

/** What `identifier` may do in a folder with this ACL (Exchange semantics: own entry, else Default). */
export function effectiveRights(acl: Readonly<Record<string, string>> | undefined, identifier: string, isOwner: boolean): string {
  if (isOwner) return allRights;
  if (acl === undefined) return '';
  const own = acl[identifier];
  if (own !== undefined) return own;
  if (identifier === anonymousIdentifier) return '';
  return acl[anyoneIdentifier] ?? '';
}

export function has(rights: string, right: string): boolean {
  return [...right].every((r) => rights.includes(r));
}

/** How an ACL entry is named: addresses lower-cased; anyone/anonymous as they are. */
export function normalizeIdentifier(identifier: string): string {
  return identifier.toLowerCase();
}
