// The typed events of a mailbox database: everything a mailbox store does, as facts in the log.
// Each event is stamped once, when appended (times, UIDs, modseqs, ids), so replay never reads
// a clock or a random source. Destructive events carry what they destroy (an expunge names the
// email ids, a folder deletion its name and message count) and the replayer checks it.

import type { MessageSummary } from '../mime/types.js';

export const EventType = {
  MailboxCreated: 1,
  MailboxDeleted: 2,
  QuotaSet: 3,
  ImportFinished: 4,
  FolderCreated: 10,
  FolderRenamed: 11,
  FolderDeleted: 12,
  SubscriptionSet: 13,
  UidNextRaised: 14,
  AclSet: 15,
  FolderAddressSet: 16,
  FolderImported: 17,
  ContentStored: 20,
  MessageAppended: 21,
  FlagsSet: 22,
  MessagesExpunged: 23,
  DocumentSet: 40,
  DocumentDestroyed: 41,
  DocumentsImported: 42,
} as const;
export type EventTypeCode = (typeof EventType)[keyof typeof EventType];

export interface MailboxCreated {
  readonly type: typeof EventType.MailboxCreated;
  readonly mailboxId: string;
  readonly address: string;
  readonly quotaBytes: number | null;
  readonly createdAtMs: number;
  /**
   * A mailbox move's target: starts with no folders and without the retired UIDVALIDITY floor,
   * and is "importing" (events may carry the source's modseqs, ids and folder ids) until
   * ImportFinished.
   */
  readonly imported?: boolean;
  /** A public-folder mailbox: its folders are public folders; it starts with no folders. */
  readonly public?: boolean;
}
/** A move's target takes the source's highest modseq and stops importing: from here modseqs grow from it. */
export interface ImportFinished {
  readonly type: typeof EventType.ImportFinished;
  readonly mailboxId: string;
  readonly modseqHighest: number;
}
export interface MailboxDeleted {
  readonly type: typeof EventType.MailboxDeleted;
  readonly mailboxId: string;
  readonly address: string;
}
export interface QuotaSet {
  readonly type: typeof EventType.QuotaSet;
  readonly mailboxId: string;
  readonly quotaBytes: number | null;
}
export interface FolderCreated {
  readonly type: typeof EventType.FolderCreated;
  readonly mailboxId: string;
  readonly folderId: number;
  readonly name: string;
  readonly uidValidity: number;
  readonly specialUse: string | null;
  readonly modseq: number;
}
export interface FolderRenamed {
  readonly type: typeof EventType.FolderRenamed;
  readonly mailboxId: string;
  readonly folderId: number;
  readonly from: string;
  readonly to: string;
  /** RFC 9051: renaming gives the folder a new UIDVALIDITY only for INBOX's special move; kept for the record. */
  readonly uidValidity: number;
  readonly modseq: number;
}
export interface FolderDeleted {
  readonly type: typeof EventType.FolderDeleted;
  readonly mailboxId: string;
  readonly folderId: number;
  readonly name: string;
  readonly messages: number;
  readonly modseq: number;
}
export interface SubscriptionSet {
  readonly type: typeof EventType.SubscriptionSet;
  readonly mailboxId: string;
  readonly name: string;
  readonly subscribed: boolean;
}
/** A folder's UIDNEXT raised past UIDs it never held (a mailbox move keeps the source's UIDNEXT). */
export interface UidNextRaised {
  readonly type: typeof EventType.UidNextRaised;
  readonly mailboxId: string;
  readonly folderId: number;
  readonly uidNext: number;
  readonly modseq: number;
}
/**
 * One entry of a folder's access control list (RFC 4314): `identifier` (a user's address,
 * `anyone` for Exchange's Default, `anonymous` for Exchange's Anonymous) is granted `rights`
 * (letters of aclRights in their order), or loses its entry when `rights` is null. `name` is
 * the folder's name, checked by the replayer.
 */
export interface AclSet {
  readonly type: typeof EventType.AclSet;
  readonly mailboxId: string;
  readonly folderId: number;
  readonly name: string;
  readonly identifier: string;
  readonly rights: string | null;
  readonly modseq: number;
}
/** A folder mail-enabled at an SMTP address (mail to it is delivered into the folder), or no longer (null). */
export interface FolderAddressSet {
  readonly type: typeof EventType.FolderAddressSet;
  readonly mailboxId: string;
  readonly folderId: number;
  readonly name: string;
  readonly address: string | null;
  readonly modseq: number;
}
/**
 * An importing folder takes the source folder's counters and expunge history as they are
 * (a mailbox move), so QRESYNC VANISHED and JMAP changes answer in the target as in the source.
 */
export interface FolderImported {
  readonly type: typeof EventType.FolderImported;
  readonly mailboxId: string;
  readonly folderId: number;
  readonly uidNext: number;
  readonly modseqHighest: number;
  readonly expunged: ReadonlyArray<{ readonly modseq: number; readonly uid: number }>;
  readonly expungedDroppedModseq: number;
}
/** Message content, stored once per database by its SHA-256; `data` is compressed when that pays. */
export interface ContentStored {
  readonly type: typeof EventType.ContentStored;
  readonly hash: string;
  readonly sizeBytes: number;
  readonly compression: 'none' | 'deflate';
  readonly data: Uint8Array;
  /**
   * The MIME summary (envelope, body structure, offsets), parsed once when planned so replay
   * never re-parses. Absent in records written before it existed: readers parse on demand.
   */
  readonly summary?: MessageSummary;
}
export interface MessageAppended {
  readonly type: typeof EventType.MessageAppended;
  readonly mailboxId: string;
  readonly folderId: number;
  readonly uid: number;
  readonly modseq: number;
  readonly emailId: string;
  readonly threadId: string;
  /** The content (ContentStored), shared by every message of the database with the same bytes. */
  readonly hash: string;
  /** The message's size as readers see it: the prefix's bytes plus the content's. */
  readonly sizeBytes: number;
  readonly internalDateMs: number;
  readonly flags: readonly string[];
  /**
   * Header fields of this message only, in front of the shared content (a delivery's
   * Return-Path and Delivered-To): the message is prefix + content. Version 2 of the codec
   * (v2.ts) carries it; absent in v1 records and when empty.
   */
  readonly prefix?: Uint8Array;
}
export interface FlagsSet {
  readonly type: typeof EventType.FlagsSet;
  readonly mailboxId: string;
  readonly folderId: number;
  readonly modseq: number;
  /** Each changed message with its whole new flag set. */
  readonly items: ReadonlyArray<{ readonly uid: number; readonly emailId: string; readonly flags: readonly string[] }>;
}
export interface MessagesExpunged {
  readonly type: typeof EventType.MessagesExpunged;
  readonly mailboxId: string;
  readonly folderId: number;
  readonly modseq: number;
  readonly items: ReadonlyArray<{ readonly uid: number; readonly emailId: string }>;
}

/**
 * An account document (JMAP identity, email submission, vacation response, whom the vacation
 * response answered): one small JSON value per (mailbox, kind, id), created or replaced whole.
 * Its modseq comes from the mailbox's document counter (MailboxState.documentModseq, apart from
 * the mail modseqs, so a document change moves no IMAP or JMAP Mail state); `createdModseq` is
 * the modseq of the document's first version (JMAP changes tells created from updated by it).
 */
export interface DocumentSet {
  readonly type: typeof EventType.DocumentSet;
  readonly mailboxId: string;
  readonly kind: string;
  readonly id: string;
  readonly value: unknown;
  readonly modseq: number;
  readonly createdModseq: number;
}
/** A document destroyed: it names the version it destroys (`destroyedModseq`, and its `createdModseq`), which replay checks. */
export interface DocumentDestroyed {
  readonly type: typeof EventType.DocumentDestroyed;
  readonly mailboxId: string;
  readonly kind: string;
  readonly id: string;
  readonly destroyedModseq: number;
  readonly createdModseq: number;
  readonly modseq: number;
}
/**
 * An importing mailbox (a move's target) takes a kind's counter and destroyed history from the
 * source, so JMAP changes answer in the target as in the source.
 */
export interface DocumentsImported {
  readonly type: typeof EventType.DocumentsImported;
  readonly mailboxId: string;
  readonly kind: string;
  readonly modseqHighest: number;
  readonly destroyed: ReadonlyArray<{ readonly id: string; readonly createdModseq: number; readonly modseq: number }>;
  readonly destroyedDroppedModseq: number;
}

export type MailEvent =
  | MailboxCreated
  | MailboxDeleted
  | QuotaSet
  | ImportFinished
  | FolderCreated
  | FolderRenamed
  | FolderDeleted
  | SubscriptionSet
  | UidNextRaised
  | AclSet
  | FolderAddressSet
  | FolderImported
  | ContentStored
  | MessageAppended
  | FlagsSet
  | MessagesExpunged
  | DocumentSet
  | DocumentDestroyed
  | DocumentsImported;
