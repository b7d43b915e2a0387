// The mailbox API: the one way front ends touch storage. Narrow and transactional: a caller
// begins a transaction on one user mailbox, adds operations, and commits; the commit is one
// atomic, durable log append and answers with what changed (UIDVALIDITY, saved UIDs, the new
// highest modseq). Reads see only durable state. Expected failures are Result values with a
// code from engine/errors.ts.
//
// Front ends import this file and engine/errors.ts only: never the log, the state store, the
// WASM core or the shipper (test/boundary.test.ts checks the imports).

import type { Result } from './errors.js';
import type { BodyValue, MessageContent, Section } from './mime/types.js';
import type { ContentCriterion } from './search/types.js';

// The message content model (MIME parsed once at delivery): see engine/mime/README.md.
export type {
  AddressEntry,
  AddressGroup,
  BodyPart,
  BodyValue,
  Disposition,
  Envelope,
  HeaderField,
  MailAddress,
  MessageContent,
  MessageSummary,
  MimeParams,
  Section,
  ThreadIds,
} from './mime/types.js';
export { isGroup } from './mime/types.js';
// Content search criteria (IMAP SEARCH text keys, JMAP Email/query text filters): engine/search/README.md.
export type { ContentCriterion, SearchIndexState, SearchIndexStatus } from './search/types.js';
export { summariesPerCallMax } from './mime/constants.js';
/** An RFC 4314 ACL identifier's length in octets (IMAP's parser refuses longer ones before asking the engine). */
export { aclIdentifierBytesMax } from './constants.js';
/** MessageInfo[] to MessageColumns (what listMessageColumns answers; test fakes of the API build theirs with it). */
export { packMessages as toMessageColumns } from './worker/pack.js';
/** Pure helpers over a summary and the message bytes (readMessage), for front ends that hold both. */
export { headerFields, parseSection, sectionBytes, sectionRange } from './mime/section.js';
export { bodyLists, bodyValuesOf, htmlToText, partsById } from './mime/parse.js';
/** Parses a message that is not stored (JMAP Email/parse): the same bounded parser delivery runs. */
export { summarize as parseMessage } from './mime/parse.js';
export { binaryBytes } from './mime/section.js';
export { decodeWords } from './mime/decode.js';

export type FlagMode = 'set' | 'add' | 'remove';

/**
 * A message read back (readMessage) as the append fields that keep its content shared in
 * another database: its own prefix (MessageInfo.prefixBytes) apart from the content. Views of
 * the same bytes (one buffer crosses to the worker).
 */
export function splitMessage(bytes: Uint8Array, prefixBytes: number | undefined): { content: Uint8Array; prefix?: Uint8Array } {
  if (prefixBytes === undefined || prefixBytes <= 0 || prefixBytes > bytes.length) return { content: bytes };
  return { prefix: bytes.subarray(0, prefixBytes), content: bytes.subarray(prefixBytes) };
}

export type TxOp =
  | {
      readonly op: 'createMailbox';
      readonly address: string;
      readonly quotaBytes: number | null;
      /**
       * A mailbox move's target: no default folders (the move copies the source's, with their
       * UIDVALIDITY), and UIDVALIDITYs retired in this database by an earlier copy of the same
       * mailbox may be used again, since they name the same folders. The mailbox is "importing"
       * until finishImport: only then may ops carry the source's modseqs, ids and folder ids.
       */
      readonly imported?: boolean;
      /** A public-folder mailbox: no default folders; its folders are public folders, reached through their ACLs. */
      readonly public?: boolean;
    }
  /** Importing only: the mailbox takes the source's highest modseq (at least every folder's) and stops importing. */
  | { readonly op: 'finishImport'; readonly modseqHighest: number }
  /**
   * Importing only: a folder takes the source folder's UIDNEXT (not lower), HIGHESTMODSEQ (at
   * least its messages' modseqs) and expunge history (ascending modseqs), so QRESYNC VANISHED
   * and JMAP changes answer in the target as they did in the source.
   */
  | {
      readonly op: 'importFolder';
      readonly folder: string;
      readonly uidNext: number;
      readonly modseqHighest: number;
      readonly expunged: ReadonlyArray<{ readonly uid: number; readonly modseq: number }>;
      readonly expungedDroppedModseq: number;
    }
  | { readonly op: 'deleteMailbox'; readonly address: string }
  | { readonly op: 'setQuota'; readonly quotaBytes: number | null }
  | {
      readonly op: 'createFolder';
      readonly name: string;
      readonly specialUse?: string | null;
      /** A given UIDVALIDITY (a mailbox move); it must exceed every UIDVALIDITY the mailbox used. */
      readonly uidValidity?: number;
      /** Importing only: a given folder id (IMAP MAILBOXID, JMAP ids), at least the mailbox's next one. */
      readonly folderId?: number;
    }
  /** Raises a folder's UIDNEXT (a mailbox move keeps the source's UIDNEXT so expunged UIDs are never reused). */
  | { readonly op: 'raiseUidNext'; readonly folder: string; readonly uidNext: number }
  | { readonly op: 'renameFolder'; readonly from: string; readonly to: string }
  | { readonly op: 'deleteFolder'; readonly name: string }
  | { readonly op: 'subscribe'; readonly name: string; readonly subscribed: boolean }
  /**
   * Sets one entry of a folder's access control list (RFC 4314): `identifier` (an address,
   * `anyone`, `anonymous`) gets `rights` (letters of "lrswipkxtea", any order), or loses its
   * entry (null). The engine stores ACLs; front ends enforce them.
   */
  | { readonly op: 'setAcl'; readonly folder: string; readonly identifier: string; readonly rights: string | null }
  /** Mail-enables a folder at an SMTP address (null: no longer). The directory routing to it is the server's. */
  | { readonly op: 'setFolderAddress'; readonly folder: string; readonly address: string | null }
  | {
      readonly op: 'append';
      readonly folder: string;
      readonly content: Uint8Array;
      /**
       * Header fields of this message only (a delivery's Return-Path and Delivered-To), whole
       * fields each ending in CRLF, at most messagePrefixBytesMax: the message is prefix +
       * content, and `content` is stored once per database however many messages carry it
       * behind their own prefixes. Every read (bytes, sections, sizes, search) sees prefix +
       * content. Trace fields only: a field the MIME summary reads (envelope, thread, Content-*)
       * answers INVALID_ARGUMENT. Content that does not start with a header field, or whose
       * header has no room for the prefix under the MIME header limits, is stored with it, whole.
       */
      readonly prefix?: Uint8Array;
      readonly flags?: readonly string[];
      readonly internalDateMs?: number;
      /** A given UID (a mailbox move): at least the folder's UIDNEXT; not with copy/move into the folder in one transaction. */
      readonly uid?: number;
      /** Importing only: the source's modseq, email id and thread id (IMAP OBJECTID, CONDSTORE). */
      readonly modseq?: number;
      readonly emailId?: string;
      readonly threadId?: string;
    }
  | {
      readonly op: 'store';
      readonly folder: string;
      readonly uids: readonly number[];
      readonly mode: FlagMode;
      readonly flags: readonly string[];
      /** CONDSTORE: only change messages whose modseq is at most this. */
      readonly unchangedSince?: number;
      /** Importing only: the source's modseq for the change (applied even when the flags are equal but the modseq is not). */
      readonly modseq?: number;
    }
  | { readonly op: 'expunge'; readonly folder: string; readonly uids: readonly number[] }
  /**
   * Creates or replaces an account document (a JSON value, at most documentBytesMax bytes):
   * JMAP identities, email submissions, the vacation response, kept in the log like mail. With
   * `keepNewest`, the kind's documents beyond that many are destroyed, least recently changed
   * first (never this one). Importing only: `modseq` and `createdModseq` are the source's.
   */
  | {
      readonly op: 'setDocument';
      readonly kind: string;
      readonly id: string;
      readonly value: unknown;
      readonly keepNewest?: number;
      readonly modseq?: number;
      readonly createdModseq?: number;
    }
  /** Destroys an account document (nothing when there is none). */
  | { readonly op: 'destroyDocument'; readonly kind: string; readonly id: string }
  /** Importing only: a kind takes the source's highest modseq and destroyed history (a mailbox move). */
  | {
      readonly op: 'importDocuments';
      readonly kind: string;
      readonly modseqHighest: number;
      readonly destroyed: ReadonlyArray<{ readonly id: string; readonly createdModseq: number; readonly modseq: number }>;
      readonly destroyedDroppedModseq: number;
    }
  | { readonly op: 'copy'; readonly folder: string; readonly uids: readonly number[]; readonly to: string }
  | { readonly op: 'move'; readonly folder: string; readonly uids: readonly number[]; readonly to: string };

export type OpResult =
  | { readonly op: 'append'; readonly uidValidity: number; readonly uid: number; readonly emailId: string }
  | { readonly op: 'copy' | 'move'; readonly uidValidity: number; readonly sourceUids: number[]; readonly uids: number[] }
  | { readonly op: 'store'; readonly changed: number[]; readonly modified: number[] }
  | { readonly op: 'expunge'; readonly uids: number[] }
  | { readonly op: 'createFolder'; readonly uidValidity: number }
  /**
   * The document's modseq (a setDocument), or the modseq of its destruction (0: there was nothing
   * to destroy); `state`: the kind's highest modseq after the op; `evicted`: ids keepNewest destroyed.
   */
  | { readonly op: 'setDocument' | 'destroyDocument'; readonly modseq: number; readonly state: number; readonly evicted?: readonly string[] }
  | { readonly op: 'createMailbox' | 'deleteMailbox' | 'setQuota' | 'renameFolder' | 'deleteFolder' | 'subscribe' | 'raiseUidNext' | 'setAcl' | 'setFolderAddress' | 'importFolder' | 'finishImport' | 'importDocuments' };

export interface TxRequest {
  readonly mailboxId: string;
  readonly ops: readonly TxOp[];
  /** Fail with UIDVALIDITY_CHANGED if a named folder's UIDVALIDITY is no longer this. */
  readonly expectUidValidity?: Readonly<Record<string, number>>;
  /**
   * Fail with MODIFIED if a named document kind's highest modseq (its state; 0 when it never
   * had a document) is no longer this: a read-modify-write of documents, retried on MODIFIED.
   */
  readonly expectDocuments?: Readonly<Record<string, number>>;
  /**
   * Also list this folder's changes since `changedSince` once the commit is durable (what
   * listMessages would answer then): a front end updates its view without a second round trip.
   */
  readonly listAfter?: { readonly folder: string; readonly changedSince: number };
  /**
   * Also read these documents once the commit is durable (what `documents` would answer then):
   * a delivery learns the recipient's vacation response without a second round trip.
   */
  readonly documentsAfter?: { readonly kind: string; readonly ids: readonly string[] };
}

export interface CommitResult {
  readonly results: OpResult[];
  /** The mailbox's highest modseq after the commit (the JMAP state, IMAP HIGHESTMODSEQ source). */
  readonly modseqHighest: number;
  /** Log position the commit became durable in. */
  readonly position: number;
  /**
   * The listing `listAfter` asked for, with the mailbox's highest modseq when it was made (a
   * change notice above it came later); absent when the folder is gone.
   */
  readonly listed?: { readonly listing: FolderListing; readonly mailboxModseqHighest: number };
  /** The documents `documentsAfter` asked for; absent when the mailbox is gone. */
  readonly documentsRead?: DocumentListing;
}

export interface FolderInfo {
  readonly folderId: number;
  readonly name: string;
  readonly uidValidity: number;
  readonly uidNext: number;
  readonly modseqHighest: number;
  readonly messages: number;
  readonly unseen: number;
  readonly sizeBytes: number;
  readonly specialUse: string | null;
  readonly subscribed: boolean;
  /** The folder's ACL (identifier → RFC 4314 rights letters); absent or empty: only the owner. */
  readonly acl?: Readonly<Record<string, string>>;
  /** A mail-enabled folder's SMTP address. */
  readonly address?: string | null;
}

export interface MailboxInfo {
  readonly mailboxId: string;
  readonly address: string;
  /** A public-folder mailbox. */
  readonly public?: boolean;
  readonly quotaBytes: number | null;
  readonly usedBytes: number;
  readonly modseqHighest: number;
  readonly folders: number;
  /** A mailbox move's target before its switch (created `imported`, not yet finishImport). */
  readonly importing?: boolean;
  /** Each account document kind's highest modseq (its state); absent in older implementations. */
  readonly documents?: Readonly<Record<string, number>>;
}

/** One account document (setDocument). */
export interface AccountDocument {
  readonly id: string;
  readonly value: unknown;
  /** The modseq of its current version, and of its first. */
  readonly modseq: number;
  readonly createdModseq: number;
}

/** The documents of one kind of a mailbox. */
export interface DocumentListing {
  /** The kind's highest modseq (0: never a document): its state. */
  readonly modseqHighest: number;
  readonly documents: AccountDocument[];
  /** Destroyed ids with the modseqs of their creation and destruction, ascending (the newest documentsDestroyedKeptMax). */
  readonly destroyed: ReadonlyArray<{ readonly id: string; readonly createdModseq: number; readonly modseq: number }>;
  /** Changes since a modseq below this are not all known (destroyed ids were dropped). */
  readonly destroyedDroppedModseq: number;
}

export interface MessageInfo {
  readonly uid: number;
  readonly modseq: number;
  readonly flags: readonly string[];
  readonly sizeBytes: number;
  readonly internalDateMs: number;
  readonly emailId: string;
  readonly threadId: string;
  /**
   * The message's first bytes that are its own header prefix (append `prefix`), absent when
   * none: a copy into another database (a mailbox move, eDiscovery) appends
   * bytes[0, prefixBytes) as `prefix` and the rest as `content`, so the content stays shared there.
   */
  readonly prefixBytes?: number;
}

export interface FolderListing {
  readonly folder: FolderInfo;
  readonly messages: MessageInfo[];
  /** With `changedSince`: UIDs expunged after it (QRESYNC VANISHED, JMAP destroyed). */
  readonly vanished: number[];
  /** The email id each vanished UID had (same order), null where it is not known (history imported by a move); absent in older implementations. */
  readonly vanishedEmailIds?: ReadonlyArray<string | null>;
  /**
   * True when `changedSince` is older than the folder's remembered expunge history (it keeps the
   * newest expungedPerFolderMax expunges): `vanished` may then miss UIDs, and the client must
   * resynchronize in full (IMAP: no QRESYNC shortcut; JMAP: cannotCalculateChanges). The engine
   * always sets it; absent (older or test implementations of the API) means false.
   */
  readonly vanishedIncomplete?: boolean;
  /**
   * With `history`: the folder's whole remembered expunge history (ascending modseqs) and the
   * highest modseq dropped from it (0: none), for a mailbox move's importFolder.
   */
  readonly expunged?: ReadonlyArray<{ readonly uid: number; readonly modseq: number }>;
  readonly expungedDroppedModseq?: number;
}

/**
 * A listing's messages in columns (engine/worker/pack.ts builds them): a typed array per
 * number field, each distinct flag list once with an index per message, the ids joined into
 * one string. What crosses the IPC hop, and what a front end holding a large folder (IMAP's
 * selected view) keeps, with no object per message.
 */
export interface MessageColumns {
  readonly count: number;
  readonly uids: Float64Array;
  readonly modseqs: Float64Array;
  readonly sizes: Float64Array;
  readonly dates: Float64Array;
  /** -1: no prefix (MessageInfo.prefixBytes absent). */
  readonly prefixBytes: Float64Array;
  /** Distinct flag lists; flagLists[flagIndex[i]] is message i's. */
  readonly flagLists: ReadonlyArray<readonly string[]>;
  readonly flagIndex: Uint32Array;
  /** Joined with "\n" (ids never hold one). */
  readonly emailIds: string;
  readonly threadIds: string;
}

/** listMessageColumns' answer: a FolderListing with its messages in columns. */
export type ColumnListing = Omit<FolderListing, 'messages'> & { readonly messages: MessageColumns };

export interface ListOptions {
  /** Only messages with a modseq above this, plus the UIDs expunged after it. */
  readonly changedSince?: number;
  /** Also the expunge history with modseqs (FolderListing.expunged). */
  readonly history?: boolean;
}

/** What the change feed says after a commit is durable (IDLE, JMAP push). */
export interface MailboxChange {
  readonly mailboxId: string;
  readonly modseqHighest: number;
  readonly folders: ReadonlyArray<{ readonly name: string; readonly folderId: number; readonly appended: number[]; readonly expunged: number[]; readonly flagged: number[] }>;
  /** A folder was created, renamed or deleted. */
  readonly hierarchyChanged: boolean;
  /** The account document kinds that changed (absent: none). */
  readonly documents?: readonly string[];
}

export interface MailboxApi {
  commit(request: TxRequest): Promise<Result<CommitResult>>;
  /**
   * Several transactions of this database, each on its own (one's failure leaves the others),
   * made durable by one log append (several when they do not fit in one batch, each
   * transaction whole in one); one answer per request, in order. A delivery to many
   * mailboxes of one database passes one `content` array in every request's append, each with
   * its recipient's `prefix`: it crosses to the database once and is stored once.
   */
  commitMany(requests: readonly TxRequest[]): Promise<Array<Result<CommitResult>>>;
  mailbox(mailboxId: string): Promise<Result<MailboxInfo>>;
  folders(mailboxId: string): Promise<Result<FolderInfo[]>>;
  /**
   * The folders of this database's personal mailboxes (not the owner's, not public-folder ones)
   * whose ACL has an entry for `identifier` or `anyone`: what another user may have shared with
   * `identifier` (IMAP "Other Users/"). The caller decides the rights. At most
   * sharedFoldersPerCallMax, oldest mailboxes first.
   */
  sharedFolders(identifier: string): Promise<Result<Array<{ readonly mailboxId: string; readonly address: string; readonly folder: FolderInfo }>>>;
  /** A folder's messages (all, or only those changed after `changedSince`), plus vanished UIDs. */
  listMessages(mailboxId: string, folder: string, options?: ListOptions): Promise<Result<FolderListing>>;
  /** listMessages with the messages in columns, in UID order: no object per message on either side of the IPC hop. */
  listMessageColumns(mailboxId: string, folder: string, options?: ListOptions): Promise<Result<ColumnListing>>;
  /** The message's bytes exactly as appended. */
  readMessage(mailboxId: string, folder: string, uid: number): Promise<Result<Uint8Array>>;
  /**
   * The MIME summaries (envelope, body structure with offsets, JMAP body lists, preview,
   * thread ids) of some messages of a folder, in UID order; UIDs that do not exist are left
   * out. At most summariesPerCallMax UIDs per call (else LIMIT).
   */
  summaries(mailboxId: string, folder: string, uids: readonly number[]): Promise<Result<MessageContent[]>>;
  /**
   * One IMAP section of a message (BODY[1.2], BODY[HEADER.FIELDS (...)], BODY[2.MIME], ...);
   * ok(null) when the section names no part. `binary`: RFC 3516 BINARY[path], the part with
   * its transfer encoding undone (UNKNOWN_CTE if it cannot be).
   */
  readPart(mailboxId: string, folder: string, uid: number, section: Section, options?: { binary?: boolean }): Promise<Result<Uint8Array | null>>;
  /** Parts decoded to text (JMAP bodyValues), by partId; `bytesMax` truncates each value (UTF-8 bytes). Unknown or non-leaf partIds are left out. */
  bodyValues(mailboxId: string, folder: string, uid: number, partIds: readonly string[], options?: { bytesMax?: number }): Promise<Result<Record<string, BodyValue>>>;
  /**
   * The UIDs (ascending) of a folder's messages matching a content criterion: HEADER, SUBJECT,
   * FROM, TO, CC, BCC, BODY, TEXT as case-insensitive substrings of decoded text, combined with
   * and/or/not. `uids` limits the search to those messages. Flag, date, size, UID and modseq
   * keys are the front end's (listMessages); see engine/search/README.md.
   */
  search(mailboxId: string, folder: string, criterion: ContentCriterion, options?: { uids?: readonly number[] }): Promise<Result<number[]>>;
  /** The account documents of one kind (all, or those of `ids` that exist), with the kind's state and destroyed history. */
  documents(mailboxId: string, kind: string, options?: { readonly ids?: readonly string[] }): Promise<Result<DocumentListing>>;
  /** Subscribes to durable changes of one mailbox; returns the unsubscribe function. */
  watch(mailboxId: string, listener: (change: MailboxChange) => void): () => void;
}

/** Builds a transaction step by step, then commits it through any MailboxApi. */
export class Transaction {
  private readonly ops: TxOp[] = [];
  private readonly expect: Record<string, number> = {};
  constructor(private readonly api: MailboxApi, private readonly mailboxId: string) {}
  expectUidValidity(folder: string, uidValidity: number): this {
    this.expect[folder] = uidValidity;
    return this;
  }
  add(op: TxOp): this {
    this.ops.push(op);
    return this;
  }
  append(folder: string, content: Uint8Array, flags: readonly string[] = [], internalDateMs?: number): this {
    return this.add({ op: 'append', folder, content, flags, ...(internalDateMs === undefined ? {} : { internalDateMs }) });
  }
  store(folder: string, uids: readonly number[], mode: FlagMode, flags: readonly string[], unchangedSince?: number): this {
    return this.add({ op: 'store', folder, uids, mode, flags, ...(unchangedSince === undefined ? {} : { unchangedSince }) });
  }
  expunge(folder: string, uids: readonly number[]): this {
    return this.add({ op: 'expunge', folder, uids });
  }
  copy(folder: string, uids: readonly number[], to: string): this {
    return this.add({ op: 'copy', folder, uids, to });
  }
  move(folder: string, uids: readonly number[], to: string): this {
    return this.add({ op: 'move', folder, uids, to });
  }
  commit(): Promise<Result<CommitResult>> {
    return this.api.commit({ mailboxId: this.mailboxId, ops: this.ops, expectUidValidity: this.expect });
  }
}

export function begin(api: MailboxApi, mailboxId: string): Transaction {
  return new Transaction(api, mailboxId);
}
