// Public folders as JMAP shared accounts (RFC 8620 §1.6.2, RFC 8621 §2 myRights): each
// database's public-folder mailbox that holds a folder this user may see is one account
// (`isPersonal: false`), its id the public-folder mailbox's id. Its Mailboxes are the folders the
// user may see (RFC 4314 `l`), each with myRights from the folder's ACL; Emails of folders the
// user may not read (`r`) are not listed. Mailbox/get, changes, query and Email/get, changes,
// query, Thread/get and SearchSnippet/get work there as in the user's own account. Changes
// through JMAP (any /set, Email/import, Email/copy into it) answer accountReadOnly: IMAP is
// where public folders are written, with the same rights enforced.

import type { FolderInfo, FolderListing, MailboxApi } from '../../../engine/api.js';
import { effectiveRights, has } from '../../acl.js';
import type { Account, FrontEndContext } from '../../frontend.js';
import { AccountView, type Folder } from './account.js';
import { MethodError } from './core.js';

/** RFC 8621 §2 myRights from RFC 4314 rights (the mapping RFC 8621 §2 gives in its notes on IMAP). */
export function jmapRights(rights: string): Record<string, boolean> {
  return {
    mayReadItems: has(rights, 'r'),
    mayAddItems: has(rights, 'i'),
    mayRemoveItems: has(rights, 'te'),
    maySetSeen: has(rights, 's'),
    maySetKeywords: has(rights, 'w'),
    mayCreateChild: has(rights, 'k'),
    mayRename: has(rights, 'x'),
    mayDelete: has(rights, 'x'),
    maySubmit: has(rights, 'p'),
  };
}

/** A public-folder mailbox seen by one user: only the folders the user may see, each with its rights. */
export class SharedAccountView extends AccountView {
  constructor(api: MailboxApi, account: Account, private readonly user: string) {
    super(api, account);
  }

  private rightsOf(folder: FolderInfo): string {
    return effectiveRights(folder.acl, this.user, false);
  }

  override async folders(): Promise<Folder[]> {
    const all = await super.folders();
    return all.filter((f) => has(this.rightsOf(f), 'l')).map((f) => ({ ...f, myRights: this.rightsOf(f) }));
  }

  override async listing(folder: Folder, changedSince?: number): Promise<FolderListing> {
    if (!has(this.rightsOf(folder), 'r')) return { folder, messages: [], vanished: [] };
    return super.listing(folder, changedSince);
  }
}

export interface SharedAccount {
  readonly accountId: string;
  readonly name: string;
  readonly view: () => AccountView;
}

/** The shared accounts of a user: one per public-folder mailbox with a folder the user may see. */
export async function sharedAccounts(context: FrontEndContext, user: Account): Promise<SharedAccount[]> {
  if (context.publicFolders === undefined) return [];
  const listed = await context.publicFolders.list();
  if (!listed.ok) return []; // a database that cannot answer leaves its public folders out, not the user's own account
  const byMailbox = new Map<string, { database: string; mailboxId: string }>();
  for (const folder of listed.value) {
    if (!has(effectiveRights(folder.folder.acl, user.address, false), 'l')) continue;
    byMailbox.set(folder.mailboxId, { database: folder.database, mailboxId: folder.mailboxId });
  }
  const several = byMailbox.size > 1;
  return [...byMailbox.values()].map(({ database, mailboxId }) => {
    const account: Account = { address: `public-folders@${database}`, mailboxId, database, displayName: 'Public Folders', quotaBytes: null, aliases: [] };
    return {
      accountId: mailboxId,
      name: several ? `Public Folders (${database})` : 'Public Folders',
      view: () => new SharedAccountView(context.mailboxes(database), account, user.address),
    };
  });
}

/** The session resource's entry of a shared account. */
export function sharedAccountEntry(shared: SharedAccount, mailCapability: string, mailAccountCapabilities: Record<string, unknown>): Record<string, unknown> {
  return { name: shared.name, isPersonal: false, isReadOnly: true, accountCapabilities: { [mailCapability]: { ...mailAccountCapabilities, mayCreateTopLevelMailbox: false } } };
}

/** Methods that change an account: refused in a shared account (RFC 8620 §3.6.2 accountReadOnly). */
export function refuseWrite(method: string): void {
  if (/\/set$|^Email\/(import|copy)$/.test(method)) throw new MethodError('accountReadOnly', 'public folders are read-only through JMAP; write them over IMAP');
}
