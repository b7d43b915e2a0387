// Public folders, as an administrator manages them (`quire publicfolder`, the admin API) and as
// the front ends find them (protocols/frontend.ts PublicFolderSource).
//
// Public folders live in public-folder mailboxes, one per database (`public-folders.DB01`),
// created the first time a folder is put there. A public folder is a folder of such a mailbox:
// its messages, its ACL (RFC 4314 rights; Exchange roles in protocols/acl.ts) and its SMTP
// address are engine state, written as events in the database's log, so they replicate to
// passive copies and come back from a replay like any mail. The hierarchy is the union of the
// folders of every database's public-folder mailbox; a path lives in exactly one of them. A new
// folder goes where its parent is unless a database is named (Exchange's content mailbox per
// folder), and takes its parent's ACL (top-level folders get Exchange's default: Default
// Author, Anonymous post).
//
// Administrative changes are serialized in this process (a path is checked free, then
// created); two servers adding the same path at the same moment in two databases could both
// succeed. The front ends answer for a path the folder listed first (databases in order).

import type { FolderInfo, MailboxApi, TxOp } from '../engine/api.js';
import { type Result, fail, ok } from '../engine/errors.js';
import type { Directory } from '../engine/directory/index.js';
import { anonymousIdentifier, canonical, has, normalizeIdentifier, publicFolderAclDefault, roleOf, roleRights, type Role } from '../protocols/acl.js';
import type { Account, PublicFolder, PublicFolderSource } from '../protocols/frontend.js';
import type { PublicFolderAdmin } from '../protocols/http/publicfolders.js';

const publicMailboxId = (database: string): string => `public-folders.${database}`;
const publicMailboxAddress = (database: string): string => `public-folders@${database}`;

/** A public folder as `quire publicfolder list --json` and the admin API show it. */
export interface PublicFolderView {
  readonly path: string;
  readonly database: string;
  readonly address: string | null;
  readonly messages: number;
  readonly sizeBytes: number;
  readonly permissions: Array<{ identifier: string; rights: string; role: Role | null }>;
}

export function viewOf(folder: PublicFolder): PublicFolderView {
  const acl = folder.folder.acl ?? {};
  return {
    path: folder.path,
    database: folder.database,
    address: folder.folder.address ?? null,
    messages: folder.folder.messages,
    sizeBytes: folder.folder.sizeBytes,
    permissions: Object.keys(acl)
      .sort()
      .map((identifier) => ({ identifier, rights: acl[identifier]!, role: roleOf(acl[identifier]!) })),
  };
}

export interface PublicFoldersOptions {
  readonly databases: readonly string[];
  readonly apiFor: (database: string) => MailboxApi;
  /** For mail-enabling: the address must be in an accepted domain and no user's, alias's or group's. */
  readonly directory: Pick<Directory, 'isAcceptedDomain' | 'findUser' | 'resolveRecipient'>;
}

function cleanPath(path: string): Result<string> {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  if (trimmed === '' || trimmed.split('/').some((p) => p === '')) return fail('INVALID_ARGUMENT', `not a public folder path: ${JSON.stringify(path)}`);
  return ok(trimmed);
}

export class PublicFolders implements PublicFolderSource {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: PublicFoldersOptions) {}

  /** Every public folder in every database, by path (a path held twice is answered by the first database). */
  async list(): Promise<Result<PublicFolder[]>> {
    const found = await Promise.all(
      this.options.databases.map(async (database) => {
        const mailboxId = publicMailboxId(database);
        const folders = await this.options.apiFor(database).folders(mailboxId);
        if (!folders.ok) return folders.code === 'NO_SUCH_MAILBOX' ? ok<PublicFolder[]>([]) : folders;
        return ok(folders.value.map((folder) => ({ path: folder.name, database, mailboxId, folder })));
      }),
    );
    const all: PublicFolder[] = [];
    const seen = new Set<string>();
    for (const result of found) {
      if (!result.ok) return result;
      for (const folder of result.value) {
        if (seen.has(folder.path)) continue;
        seen.add(folder.path);
        all.push(folder);
      }
    }
    return ok(all.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)));
  }

  async sharedWith(address: string): Promise<Result<Array<{ owner: string; database: string; mailboxId: string; folder: FolderInfo }>>> {
    const found = await Promise.all(this.options.databases.map(async (database) => ({ database, shared: await this.options.apiFor(database).sharedFolders(address.toLowerCase()) })));
    const out: Array<{ owner: string; database: string; mailboxId: string; folder: FolderInfo }> = [];
    for (const { database, shared } of found) {
      if (!shared.ok) return shared;
      for (const s of shared.value) out.push({ owner: s.address, database, mailboxId: s.mailboxId, folder: s.folder });
    }
    return ok(out);
  }

  async find(path: string): Promise<Result<PublicFolder>> {
    const clean = cleanPath(path);
    if (!clean.ok) return clean;
    const all = await this.list();
    if (!all.ok) return all;
    const folder = all.value.find((f) => f.path === clean.value);
    return folder === undefined ? fail('NO_SUCH_FOLDER', `no public folder ${clean.value}`) : ok(folder);
  }

  /** Creates a public folder (its parent must exist), in `database` or its parent's (else the first database). */
  add(path: string, database?: string): Promise<Result<PublicFolderView>> {
    return this.serial(async () => {
      const clean = cleanPath(path);
      if (!clean.ok) return clean;
      if (database !== undefined && !this.options.databases.includes(database)) return fail('NO_SUCH_DATABASE', `no database ${database} (have ${this.options.databases.join(', ')})`);
      const all = await this.list();
      if (!all.ok) return all;
      if (all.value.some((f) => f.path === clean.value)) return fail('FOLDER_EXISTS', `public folder ${clean.value} exists`);
      const slash = clean.value.lastIndexOf('/');
      const parent = slash < 0 ? null : all.value.find((f) => f.path === clean.value.slice(0, slash));
      if (parent === undefined) return fail('NO_SUCH_FOLDER', `no public folder ${clean.value.slice(0, slash)} to hold ${clean.value}`);
      const target = database ?? parent?.database ?? this.options.databases[0]!;
      const api = this.options.apiFor(target);
      const mailboxId = publicMailboxId(target);
      const exists = await api.mailbox(mailboxId);
      if (!exists.ok) {
        if (exists.code !== 'NO_SUCH_MAILBOX') return exists;
        const created = await api.commit({ mailboxId, ops: [{ op: 'createMailbox', address: publicMailboxAddress(target), quotaBytes: null, public: true }] });
        if (!created.ok && created.code !== 'USER_EXISTS') return created;
      }
      const acl = parent?.folder.acl ?? publicFolderAclDefault;
      const ops: TxOp[] = [
        { op: 'createFolder', name: clean.value },
        ...Object.entries(acl).map(([identifier, rights]): TxOp => ({ op: 'setAcl', folder: clean.value, identifier, rights })),
      ];
      const committed = await api.commit({ mailboxId, ops });
      if (!committed.ok) return committed;
      return this.view(clean.value);
    });
  }

  /** Deletes a public folder and its messages; one with subfolders is refused. */
  remove(path: string): Promise<Result<PublicFolderView>> {
    return this.serial(async () => {
      const folder = await this.find(path);
      if (!folder.ok) return folder;
      const all = await this.list();
      if (!all.ok) return all;
      if (all.value.some((f) => f.path.startsWith(folder.value.path + '/'))) return fail('FOLDER_NOT_EMPTY', `public folder ${folder.value.path} has subfolders; remove them first`);
      const committed = await this.options.apiFor(folder.value.database).commit({ mailboxId: folder.value.mailboxId, ops: [{ op: 'deleteFolder', name: folder.value.path }] });
      return committed.ok ? ok(viewOf(folder.value)) : committed;
    });
  }

  /** Gives `identifier` (an address, `anyone` for Default, `anonymous`) a role or exact rights; null removes its entry. */
  setPermission(path: string, identifier: string, grant: Role | { rights: string } | null): Promise<Result<PublicFolderView>> {
    return this.serial(async () => {
      const folder = await this.find(path);
      if (!folder.ok) return folder;
      const rights = grant === null ? null : typeof grant === 'string' ? roleRights[grant] : canonical(grant.rights);
      const committed = await this.options.apiFor(folder.value.database).commit({
        mailboxId: folder.value.mailboxId,
        ops: [{ op: 'setAcl', folder: folder.value.path, identifier: normalizeIdentifier(identifier), rights }],
      });
      return committed.ok ? this.view(folder.value.path) : committed;
    });
  }

  /** Mail-enables a folder at `address` (null: no longer). */
  mailEnable(path: string, address: string | null): Promise<Result<PublicFolderView>> {
    return this.serial(async () => {
      const folder = await this.find(path);
      if (!folder.ok) return folder;
      const lower = address?.trim().toLowerCase() ?? null;
      if (lower !== null) {
        const at = lower.lastIndexOf('@');
        if (at <= 0 || at === lower.length - 1) return fail('INVALID_ARGUMENT', `not an address: ${address}`);
        if (!(await this.options.directory.isAcceptedDomain(lower.slice(at + 1)))) return fail('INVALID_ARGUMENT', `${lower.slice(at + 1)} is not an accepted domain`);
        if ((await this.options.directory.findUser(lower)) !== null) return fail('USER_EXISTS', `${lower} is a user's address`);
        const recipient = await this.options.directory.resolveRecipient(lower);
        if (recipient.ok) return fail('USER_EXISTS', `${lower} already receives mail (a group or alias)`);
        const all = await this.list();
        if (!all.ok) return all;
        const holder = all.value.find((f) => f.folder.address === lower && f.path !== folder.value.path);
        if (holder !== undefined) return fail('USER_EXISTS', `${lower} is the address of public folder ${holder.path}`);
      }
      const committed = await this.options.apiFor(folder.value.database).commit({
        mailboxId: folder.value.mailboxId,
        ops: [{ op: 'setFolderAddress', folder: folder.value.path, address: lower }],
      });
      return committed.ok ? this.view(folder.value.path) : committed;
    });
  }

  /**
   * The recipient for mail to a mail-enabled public folder's address, or null when no folder has
   * it. NOT_AUTHORIZED when the folder's Anonymous entry has no post right (Exchange refuses
   * such mail too).
   */
  async recipient(address: string): Promise<Result<Account | null>> {
    const lower = address.toLowerCase();
    const all = await this.list();
    if (!all.ok) return all;
    const folder = all.value.find((f) => f.folder.address === lower);
    if (folder === undefined) return ok(null);
    const anonymous = folder.folder.acl?.[anonymousIdentifier] ?? '';
    if (!has(anonymous, 'p') && !has(anonymous, 'i')) return fail('NOT_AUTHORIZED', `public folder ${folder.path} does not take mail from senders (Anonymous has no post right)`);
    return ok({ address: lower, mailboxId: folder.mailboxId, database: folder.database, displayName: folder.path, quotaBytes: null, aliases: [], folder: folder.path });
  }

  private async view(path: string): Promise<Result<PublicFolderView>> {
    const folder = await this.find(path);
    return folder.ok ? ok(viewOf(folder.value)) : folder;
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** The admin API's view of the service (listings as PublicFolderView). */
export function publicFolderAdmin(folders: PublicFolders): PublicFolderAdmin {
  return {
    list: async () => {
      const all = await folders.list();
      return all.ok ? ok(all.value.map(viewOf)) : all;
    },
    add: (path, database) => folders.add(path, database),
    remove: (path) => folders.remove(path),
    setPermission: (path, identifier, grant) => folders.setPermission(path, identifier, grant),
    mailEnable: (path, address) => folders.mailEnable(path, address),
  };
}
