// One account as JMAP sees it, read through the mailbox API for the length of one request:
// folders as Mailboxes, each message of a folder as an Email, and the state string.
//
// Ids. A Mailbox id is `F<folderId>` (stable across renames). An Email id is the engine's
// email id (IMAP OBJECTID EMAILID): kept by a move, so an Email keeps its id when its
// mailboxIds change. An IMAP COPY keeps it too, so one Email may have a message in several
// folders (its mailboxIds lists them; JMAP writes allow one, maxMailboxesPerEmail 1). Email
// changes learn the email id of an expunged message from the API (vanishedEmailIds).
//
// State. The API numbers every change of a mailbox with a modseq (IMAP HIGHESTMODSEQ), so an
// IMAP STORE shows in JMAP changes and the other way round. The state string is that modseq
// plus, per folder, its UIDNEXT: `<modseq>-<folderId>.<uidNext>-...`. With it, `changes` tells
// a created message (UID at or past the old UIDNEXT) from an updated one, a created folder
// from an old one, and a destroyed folder (missing now) from a kept one.

import type { FolderInfo, FolderListing, MailboxApi, MailboxInfo, MessageContent, MessageInfo } from '../../../engine/api.js';
import type { Result } from '../../../engine/errors.js';
import type { Account } from '../../frontend.js';
import { MethodError } from './core.js';

export const folderSeparator = '/';

export interface Folder extends FolderInfo {
  readonly id: string;
  readonly parentId: string | null;
  /** The last level of the name (JMAP name). */
  readonly leafName: string;
  readonly role: string | null;
  /** This user's RFC 4314 rights on a shared account's folder (shared.ts); absent: the user's own, every right. */
  readonly myRights?: string;
}

/** One message: a folder and its metadata there. */
export interface MessageRef {
  readonly folder: Folder;
  readonly info: MessageInfo;
}

/** An Email: its id and its messages (the first, by folder, is the one read for content and keywords). */
export interface EmailRef extends MessageRef {
  readonly id: string;
  readonly copies: readonly MessageRef[];
}

export interface ParsedState {
  readonly modseq: number;
  readonly uidNext: ReadonlyMap<number, number>;
}

export const mailboxId = (folderId: number): string => `F${folderId}`;

export function parseMailboxId(id: string): number | null {
  const match = /^F(\d{1,9})$/.exec(id);
  return match === null ? null : Number(match[1]);
}

export function parseState(state: unknown): ParsedState | null {
  if (typeof state !== 'string' || state.length > 64 * 1024) return null;
  const [head, ...folders] = state.split('-');
  if (head === undefined || !/^\d+$/.test(head)) return null;
  const uidNext = new Map<number, number>();
  for (const entry of folders) {
    const match = /^(\d+)\.(\d+)$/.exec(entry);
    if (match === null) return null;
    uidNext.set(Number(match[1]), Number(match[2]));
  }
  return { modseq: Number(head), uidNext };
}

const roles: Record<string, string> = {
  '\\sent': 'sent', '\\drafts': 'drafts', '\\trash': 'trash', '\\junk': 'junk', '\\archive': 'archive', '\\all': 'all', '\\flagged': 'flagged', '\\important': 'important',
};
const specialUses = Object.fromEntries(Object.entries(roles).map(([use, role]) => [role, use.replace(/^\\(.)/, (_, c: string) => `\\${c.toUpperCase()}`)]));

export function specialUseOf(role: string): string | null {
  return specialUses[role] ?? null;
}

/** IMAP system flags as JMAP keywords; \Deleted and \Recent have none. */
const flagKeywords: Record<string, string> = { '\\seen': '$seen', '\\flagged': '$flagged', '\\answered': '$answered', '\\draft': '$draft' };
const keywordFlags = Object.fromEntries(Object.entries(flagKeywords).map(([flag, keyword]) => [keyword, flag.replace(/^\\(.)/, (_, c: string) => `\\${c.toUpperCase()}`)]));

export function keywordsOf(flags: readonly string[]): Record<string, true> {
  const out: Record<string, true> = {};
  for (const flag of flags) {
    const lower = flag.toLowerCase();
    if (lower.startsWith('\\')) {
      const keyword = flagKeywords[lower];
      if (keyword !== undefined) out[keyword] = true;
    } else out[lower] = true;
  }
  return out;
}

/** A JMAP keyword as an IMAP flag; null when it is not a valid keyword (RFC 8621 4.1.1). */
export function flagOf(keyword: string): string | null {
  const lower = keyword.toLowerCase();
  if (keywordFlags[lower] !== undefined) return keywordFlags[lower]!;
  if (lower.length === 0 || lower.length > 255 || !/^[\x21-\x7e]+$/.test(lower) || /[()[\]{}%*"\\]/.test(lower)) return null;
  return lower;
}

/** An engine failure as a method error (the API answered a read with a failure). */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  if (result.code === 'DATABASE_UNAVAILABLE' || result.code === 'NOT_ACTIVE' || result.code === 'DIRECTORY_UNAVAILABLE') throw new MethodError('serverUnavailable', result.message);
  if (result.code === 'LIMIT') throw new MethodError('serverUnavailable', result.message);
  throw new MethodError('serverFail', `${result.code}: ${result.message}`);
}

export class AccountView {
  private foldersCache: Folder[] | null = null;
  private stateCache: string | null = null;
  private infoCache: MailboxInfo | null = null;
  private readonly listings = new Map<number, FolderListing>();
  private emailsCache: Map<string, EmailRef> | null = null;
  /** By `<folderId>.<uid>`. */
  private readonly contents = new Map<string, MessageContent>();

  constructor(readonly api: MailboxApi, readonly account: Account) {}

  get mailboxId(): string {
    return this.account.mailboxId;
  }

  /** Forget what was read: after a commit, the next read sees it. */
  invalidate(): void {
    this.foldersCache = null;
    this.stateCache = null;
    this.infoCache = null;
    this.listings.clear();
    this.emailsCache = null;
  }

  async folders(): Promise<Folder[]> {
    if (this.foldersCache !== null) return this.foldersCache;
    const infos = unwrap(await this.api.folders(this.mailboxId));
    const byName = new Map(infos.map((f) => [f.name, f]));
    this.foldersCache = infos.map((f) => {
      const cut = f.name.lastIndexOf(folderSeparator);
      const parent = cut > 0 ? byName.get(f.name.slice(0, cut)) : undefined;
      return {
        ...f,
        id: mailboxId(f.folderId),
        parentId: parent === undefined ? null : mailboxId(parent.folderId),
        leafName: parent === undefined ? f.name : f.name.slice(cut + 1),
        role: f.name === 'INBOX' ? 'inbox' : f.specialUse === null ? null : (roles[f.specialUse.toLowerCase()] ?? null),
      };
    });
    return this.foldersCache;
  }

  async folderById(id: string): Promise<Folder | undefined> {
    const folderId = parseMailboxId(id);
    return folderId === null ? undefined : (await this.folders()).find((f) => f.folderId === folderId);
  }

  /** The mailbox's info (modseqs, document kinds' states), read once until invalidate(). */
  async info(): Promise<MailboxInfo> {
    this.infoCache ??= unwrap(await this.api.mailbox(this.mailboxId));
    return this.infoCache;
  }

  /** The state string (see the top of this file). */
  async state(): Promise<string> {
    if (this.stateCache !== null) return this.stateCache;
    const info = await this.info();
    const folders = await this.folders();
    const modseq = Math.max(info.modseqHighest, ...folders.map((f) => f.modseqHighest));
    this.stateCache = [String(modseq), ...[...folders].sort((a, b) => a.folderId - b.folderId).map((f) => `${f.folderId}.${f.uidNext}`)].join('-');
    return this.stateCache;
  }

  async listing(folder: Folder, changedSince?: number): Promise<FolderListing> {
    if (changedSince !== undefined) return unwrap(await this.api.listMessages(this.mailboxId, folder.name, { changedSince }));
    const cached = this.listings.get(folder.folderId);
    if (cached !== undefined) return cached;
    const listing = unwrap(await this.api.listMessages(this.mailboxId, folder.name));
    this.listings.set(folder.folderId, listing);
    return listing;
  }

  /** Every Email of the account, by id (messages sharing an email id are one Email). */
  private async emailMap(): Promise<Map<string, EmailRef>> {
    if (this.emailsCache !== null) return this.emailsCache;
    const copies = new Map<string, MessageRef[]>();
    for (const folder of await this.folders()) {
      const listing = await this.listing(folder);
      for (const info of listing.messages) {
        const list = copies.get(info.emailId);
        if (list === undefined) copies.set(info.emailId, [{ folder, info }]);
        else list.push({ folder, info });
      }
    }
    this.emailsCache = new Map([...copies].map(([id, list]) => [id, { id, folder: list[0]!.folder, info: list[0]!.info, copies: list }]));
    return this.emailsCache;
  }

  /** Every Email of the account. */
  async emails(): Promise<EmailRef[]> {
    return [...(await this.emailMap()).values()];
  }

  async email(id: string): Promise<EmailRef | null> {
    return (await this.emailMap()).get(id) ?? null;
  }

  /** One message by folder and UID (blobs name messages so). */
  async message(folderId: number, uid: number): Promise<MessageRef | null> {
    const folder = (await this.folders()).find((f) => f.folderId === folderId);
    if (folder === undefined) return null;
    const info = (await this.listing(folder)).messages.find((m) => m.uid === uid);
    return info === undefined ? null : { folder, info };
  }

  /** MIME summaries of some Emails (one API call per folder, in pieces of at most summariesPerCallMax). */
  async contentsOf(refs: readonly EmailRef[]): Promise<Map<string, MessageContent>> {
    const missing = refs.filter((r) => !this.contents.has(`${r.folder.folderId}.${r.info.uid}`));
    const byFolder = new Map<number, EmailRef[]>();
    for (const ref of missing) byFolder.set(ref.folder.folderId, [...(byFolder.get(ref.folder.folderId) ?? []), ref]);
    for (const group of byFolder.values()) {
      const folder = group[0]!.folder;
      for (let i = 0; i < group.length; i += 1000) {
        const uids = group.slice(i, i + 1000).map((r) => r.info.uid);
        for (const content of unwrap(await this.api.summaries(this.mailboxId, folder.name, uids))) this.contents.set(`${folder.folderId}.${content.uid}`, content);
      }
    }
    const out = new Map<string, MessageContent>();
    for (const ref of refs) {
      const content = this.contents.get(`${ref.folder.folderId}.${ref.info.uid}`);
      if (content !== undefined) out.set(ref.id, content);
    }
    return out;
  }
}
