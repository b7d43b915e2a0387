// The materialized state of one mailbox database and the one pure function that moves it
// forward: apply(state, event). The live database, recovery, passive-copy replay and the
// simulator's replay-from-zero checker all use this same function, so "replaying the log gives
// exactly the live state" is a property of one piece of code.
//
// apply() asserts every invariant the event relies on (UIDs and modseqs only grow, a destroyed
// message is the one the event names). A failed assert during replay means the log and the
// state disagree: the database must stop, not guess.

import { assert } from '../assert.js';
import { documentsDestroyedKeptMax, expungedPerFolderMax } from '../constants.js';
import { EventType, type MailEvent } from '../events/types.js';
import type { MessageSummary } from '../mime/types.js';

export interface MessageMeta {
  uid: number;
  modseq: number;
  readonly emailId: string;
  readonly threadId: string;
  /** The shared content (ContentStored). */
  readonly hash: string;
  /** The message's size: prefix plus content. */
  readonly sizeBytes: number;
  readonly internalDateMs: number;
  flags: string[];
  /**
   * Header fields of this message only, in front of the content (MessageAppended v2), as a
   * latin1 string (one character per byte, so it round-trips through JSON exactly); absent when
   * empty. Readers see prefix + content (`messagePrefix`).
   */
  readonly prefix?: string;
}

/** Prefix then content in one new array (one copy: a message can be messageBytesMax long). */
export function withPrefixBytes(prefix: Uint8Array, content: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + content.length);
  out.set(prefix);
  out.set(content, prefix.length);
  return out;
}

/** A message's prefix bytes (empty when it has none). */
export function messagePrefix(message: Pick<MessageMeta, 'prefix'>): Uint8Array {
  return message.prefix === undefined ? new Uint8Array(0) : new Uint8Array(Buffer.from(message.prefix, 'latin1'));
}

export interface FolderState {
  readonly folderId: number;
  name: string;
  readonly uidValidity: number;
  uidNext: number;
  modseqHighest: number;
  readonly specialUse: string | null;
  /** Messages in UID order (ascending); sequence number = index + 1. */
  messages: MessageMeta[];
  unseenCount: number;
  sizeBytes: number;
  /**
   * Expunged UIDs with the modseq of their expunge, ascending by modseq (QRESYNC VANISHED, JMAP
   * changes): the newest expungedPerFolderMax of them, with the email id each had (absent in
   * history imported by a mailbox move and in records written before it was kept).
   */
  expunged: Array<{ modseq: number; uid: number; emailId?: string }>;
  /** The folder's access control list (RFC 4314): identifier → rights letters. Empty: only the mailbox's owner. */
  acl: Record<string, string>;
  /** The SMTP address mail to which is delivered into this folder (a mail-enabled public folder), or null. */
  address: string | null;
  /** The highest modseq of an expunge dropped from `expunged` (0: none dropped): changes since an older modseq are not all known. */
  expungedDroppedModseq: number;
}

/** One account document (DocumentSet): its value and the modseqs of its first and current versions. */
export interface StoredDocument {
  readonly id: string;
  readonly value: unknown;
  readonly modseq: number;
  readonly createdModseq: number;
}

/** The documents of one kind in a mailbox, the kind's highest modseq (its JMAP state) and its recent destructions. */
export interface DocumentKindState {
  modseqHighest: number;
  readonly documents: Map<string, StoredDocument>;
  /** Destroyed ids, ascending by the modseq of their destruction: the newest documentsDestroyedKeptMax. */
  destroyed: Array<{ id: string; createdModseq: number; modseq: number }>;
  /** The highest modseq of a destruction dropped from `destroyed` (0: none): changes since an older modseq are not all known. */
  destroyedDroppedModseq: number;
}

export interface MailboxState {
  readonly mailboxId: string;
  readonly address: string;
  /** A public-folder mailbox (its folders are public folders, it has no owner). */
  readonly public: boolean;
  quotaBytes: number | null;
  usedBytes: number;
  modseqHighest: number;
  folderIdNext: number;
  uidValidityLast: number;
  folders: Map<number, FolderState>;
  folderIdsByName: Map<string, number>;
  subscriptions: Set<string>;
  /** The highest modseq given to an account document change (its own counter, apart from the mail modseqs). */
  documentModseq: number;
  /** Account documents by kind. */
  documents: Map<string, DocumentKindState>;
  /**
   * A mailbox move's target before its switch (MailboxCreated `imported` until ImportFinished):
   * events may carry the source's modseqs, which need not grow here, and folders take the
   * source's counters and expunge history (FolderImported). Absent in older records: false.
   */
  importing?: boolean;
}

export interface ContentRef {
  refs: number;
  readonly sizeBytes: number;
}

export interface DatabaseState {
  mailboxes: Map<string, MailboxState>;
  contents: Map<string, ContentRef>;
  /**
   * The last UIDVALIDITY of each deleted mailbox id: a mailbox created again under the same id
   * starts above it, so no UIDVALIDITY is ever given out twice for a folder of that id.
   */
  retiredUidValidity: Map<string, number>;
  /** The log position up to which events have been applied (the end of the last applied batch). */
  position: number;
}

/** What an event changed, so the materializer writes only those records. */
export interface Touched {
  mailboxes: Set<string>;
  /** `${mailboxId}/${folderId}` */
  folders: Set<string>;
  /** `${mailboxId}/${folderId}/${uid}` → whether the message now exists. */
  messages: Map<string, boolean>;
  contents: Set<string>;
  /** Content data to write (new) or delete (null) by hash. */
  contentData: Map<string, Uint8Array | null>;
  /** MIME summaries of new content, by hash (deleted with the content's data). */
  contentSummaries: Map<string, MessageSummary>;
  /** Folders removed entirely (with all their messages). */
  foldersRemoved: Array<{ mailboxId: string; folderId: number; uids: number[] }>;
  mailboxesRemoved: string[];
  /** Mailbox ids whose retired UIDVALIDITY was set or consumed. */
  retired: Set<string>;
  /** Account documents written or removed, as documentRef(mailboxId, kind, id). */
  documents: Set<string>;
  /** Document kinds whose counter or history changed, as documentRef(mailboxId, kind). */
  documentKinds: Set<string>;
}

/** The key of a document (with `id`) or of a kind in Touched: unambiguous whatever the names hold. */
export const documentRef = (...parts: string[]): string => JSON.stringify(parts);

export function emptyState(): DatabaseState {
  return { mailboxes: new Map(), contents: new Map(), retiredUidValidity: new Map(), position: 0 };
}

export function emptyTouched(): Touched {
  return {
    mailboxes: new Set(),
    folders: new Set(),
    messages: new Map(),
    contents: new Set(),
    contentData: new Map(),
    contentSummaries: new Map(),
    foldersRemoved: [],
    mailboxesRemoved: [],
    retired: new Set(),
    documents: new Set(),
    documentKinds: new Set(),
  };
}

export const seenFlag = '\\Seen';

export function findMessageIndex(folder: FolderState, uid: number): number {
  const list = folder.messages;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.uid < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo < list.length && list[lo]!.uid === uid ? lo : -1;
}

function mailboxOf(state: DatabaseState, mailboxId: string): MailboxState {
  const mailbox = state.mailboxes.get(mailboxId);
  assert(mailbox !== undefined, `event names unknown mailbox ${mailboxId}`);
  return mailbox;
}

function folderOf(mailbox: MailboxState, folderId: number): FolderState {
  const folder = mailbox.folders.get(folderId);
  assert(folder !== undefined, `event names unknown folder ${folderId} of ${mailbox.mailboxId}`);
  return folder;
}

function bumpModseq(mailbox: MailboxState, folder: FolderState | null, modseq: number): void {
  if (mailbox.importing === true) {
    // The source's modseqs arrive folder by folder, not in order; ImportFinished settles the mailbox's.
    assert(Number.isSafeInteger(modseq) && modseq > 0, `bad imported modseq ${modseq}`);
    mailbox.modseqHighest = Math.max(mailbox.modseqHighest, modseq);
    if (folder !== null) folder.modseqHighest = Math.max(folder.modseqHighest, modseq);
    return;
  }
  assert(modseq > mailbox.modseqHighest, `modseq ${modseq} does not grow past ${mailbox.modseqHighest}`);
  mailbox.modseqHighest = modseq;
  if (folder !== null) folder.modseqHighest = modseq;
}

function documentKindOf(mailbox: MailboxState, kind: string): DocumentKindState {
  let state = mailbox.documents.get(kind);
  if (state === undefined) mailbox.documents.set(kind, (state = { modseqHighest: 0, documents: new Map(), destroyed: [], destroyedDroppedModseq: 0 }));
  return state;
}

function bumpDocumentModseq(mailbox: MailboxState, kind: DocumentKindState, modseq: number): void {
  assert(Number.isSafeInteger(modseq) && modseq > 0, `bad document modseq ${modseq}`);
  if (mailbox.importing !== true) assert(modseq > mailbox.documentModseq, `document modseq ${modseq} does not grow past ${mailbox.documentModseq}`);
  mailbox.documentModseq = Math.max(mailbox.documentModseq, modseq);
  kind.modseqHighest = Math.max(kind.modseqHighest, modseq);
}

/** A document change writes the mailbox (its document counter), the kind and, when named, the document. */
function touchDocument(touched: Touched, mailboxId: string, kind: string, id?: string): void {
  touched.mailboxes.add(mailboxId);
  touched.documentKinds.add(documentRef(mailboxId, kind));
  if (id !== undefined) touched.documents.add(documentRef(mailboxId, kind, id));
}

function releaseContent(state: DatabaseState, hash: string, touched: Touched): void {
  const content = state.contents.get(hash);
  assert(content !== undefined && content.refs > 0, `content ${hash} released more often than referenced`);
  content.refs -= 1;
  touched.contents.add(hash);
  if (content.refs === 0) {
    state.contents.delete(hash);
    touched.contentData.set(hash, null);
  }
}

export function apply(state: DatabaseState, event: MailEvent, touched: Touched): void {
  switch (event.type) {
    case EventType.MailboxCreated: {
      assert(!state.mailboxes.has(event.mailboxId), `mailbox ${event.mailboxId} created twice`);
      const retired = state.retiredUidValidity.get(event.mailboxId);
      if (retired !== undefined) {
        state.retiredUidValidity.delete(event.mailboxId);
        touched.retired.add(event.mailboxId);
      }
      state.mailboxes.set(event.mailboxId, {
        mailboxId: event.mailboxId,
        address: event.address,
        public: event.public === true,
        quotaBytes: event.quotaBytes,
        usedBytes: 0,
        modseqHighest: 0,
        folderIdNext: 1,
        uidValidityLast: event.imported === true ? 0 : retired ?? 0,
        folders: new Map(),
        folderIdsByName: new Map(),
        subscriptions: new Set(),
        documentModseq: 0,
        documents: new Map(),
        ...(event.imported === true ? { importing: true } : {}),
      });
      touched.mailboxes.add(event.mailboxId);
      return;
    }
    case EventType.ImportFinished: {
      const mailbox = mailboxOf(state, event.mailboxId);
      assert(mailbox.importing === true, `import of ${event.mailboxId} finished twice`);
      for (const folder of mailbox.folders.values()) {
        assert(folder.modseqHighest <= event.modseqHighest, `folder ${folder.name} has modseq ${folder.modseqHighest} past the imported ${event.modseqHighest}`);
      }
      mailbox.modseqHighest = event.modseqHighest;
      delete mailbox.importing;
      touched.mailboxes.add(mailbox.mailboxId);
      return;
    }
    case EventType.FolderImported: {
      const mailbox = mailboxOf(state, event.mailboxId);
      assert(mailbox.importing === true, `folder counters imported into ${event.mailboxId}, which is not importing`);
      const folder = folderOf(mailbox, event.folderId);
      assert(event.uidNext >= folder.uidNext, `imported UIDNEXT ${event.uidNext} below ${folder.uidNext}`);
      for (const message of folder.messages) assert(message.modseq <= event.modseqHighest, `UID ${message.uid} has modseq ${message.modseq} past the imported ${event.modseqHighest}`);
      folder.uidNext = event.uidNext;
      folder.modseqHighest = event.modseqHighest;
      folder.expunged = event.expunged.map((e) => ({ modseq: e.modseq, uid: e.uid }));
      folder.expungedDroppedModseq = event.expungedDroppedModseq;
      mailbox.modseqHighest = Math.max(mailbox.modseqHighest, event.modseqHighest);
      touched.mailboxes.add(mailbox.mailboxId);
      touched.folders.add(`${mailbox.mailboxId}/${folder.folderId}`);
      return;
    }
    case EventType.MailboxDeleted: {
      const mailbox = mailboxOf(state, event.mailboxId);
      assert(mailbox.address === event.address, 'mailbox deletion names another address');
      for (const folder of mailbox.folders.values()) {
        for (const message of folder.messages) releaseContent(state, message.hash, touched);
        touched.foldersRemoved.push({ mailboxId: mailbox.mailboxId, folderId: folder.folderId, uids: folder.messages.map((m) => m.uid) });
      }
      for (const [kind, documents] of mailbox.documents) {
        touched.documentKinds.add(documentRef(mailbox.mailboxId, kind));
        for (const id of documents.documents.keys()) touched.documents.add(documentRef(mailbox.mailboxId, kind, id));
      }
      state.mailboxes.delete(event.mailboxId);
      state.retiredUidValidity.set(event.mailboxId, mailbox.uidValidityLast);
      touched.retired.add(event.mailboxId);
      touched.mailboxesRemoved.push(event.mailboxId);
      return;
    }
    case EventType.QuotaSet: {
      mailboxOf(state, event.mailboxId).quotaBytes = event.quotaBytes;
      touched.mailboxes.add(event.mailboxId);
      return;
    }
    case EventType.FolderCreated: {
      const mailbox = mailboxOf(state, event.mailboxId);
      assert(!mailbox.folders.has(event.folderId), `folder id ${event.folderId} reused`);
      assert(event.folderId >= mailbox.folderIdNext, 'folder ids only grow');
      assert(!mailbox.folderIdsByName.has(event.name), `folder ${event.name} created twice`);
      assert(event.uidValidity > mailbox.uidValidityLast, 'UIDVALIDITY only grows within a mailbox');
      const folder: FolderState = {
        folderId: event.folderId,
        name: event.name,
        uidValidity: event.uidValidity,
        uidNext: 1,
        modseqHighest: 0,
        specialUse: event.specialUse,
        messages: [],
        unseenCount: 0,
        sizeBytes: 0,
        expunged: [],
        expungedDroppedModseq: 0,
        acl: {},
        address: null,
      };
      bumpModseq(mailbox, folder, event.modseq);
      mailbox.folders.set(event.folderId, folder);
      mailbox.folderIdsByName.set(event.name, event.folderId);
      mailbox.folderIdNext = event.folderId + 1;
      mailbox.uidValidityLast = event.uidValidity;
      touched.mailboxes.add(mailbox.mailboxId);
      touched.folders.add(`${mailbox.mailboxId}/${folder.folderId}`);
      return;
    }
    case EventType.FolderRenamed: {
      const mailbox = mailboxOf(state, event.mailboxId);
      const folder = folderOf(mailbox, event.folderId);
      assert(folder.name === event.from, `rename names ${event.from} but the folder is ${folder.name}`);
      assert(!mailbox.folderIdsByName.has(event.to), `rename target ${event.to} exists`);
      mailbox.folderIdsByName.delete(folder.name);
      folder.name = event.to;
      mailbox.folderIdsByName.set(event.to, folder.folderId);
      bumpModseq(mailbox, folder, event.modseq);
      touched.mailboxes.add(mailbox.mailboxId);
      touched.folders.add(`${mailbox.mailboxId}/${folder.folderId}`);
      return;
    }
    case EventType.FolderDeleted: {
      const mailbox = mailboxOf(state, event.mailboxId);
      const folder = folderOf(mailbox, event.folderId);
      assert(folder.name === event.name, `deletion names ${event.name} but the folder is ${folder.name}`);
      assert(folder.messages.length === event.messages, 'deletion counts other messages than the folder holds');
      for (const message of folder.messages) {
        releaseContent(state, message.hash, touched);
        mailbox.usedBytes -= message.sizeBytes;
      }
      bumpModseq(mailbox, null, event.modseq);
      mailbox.folders.delete(folder.folderId);
      mailbox.folderIdsByName.delete(folder.name);
      touched.mailboxes.add(mailbox.mailboxId);
      touched.foldersRemoved.push({ mailboxId: mailbox.mailboxId, folderId: folder.folderId, uids: folder.messages.map((m) => m.uid) });
      return;
    }
    case EventType.SubscriptionSet: {
      const mailbox = mailboxOf(state, event.mailboxId);
      if (event.subscribed) mailbox.subscriptions.add(event.name);
      else mailbox.subscriptions.delete(event.name);
      touched.mailboxes.add(mailbox.mailboxId);
      return;
    }
    case EventType.UidNextRaised: {
      const mailbox = mailboxOf(state, event.mailboxId);
      const folder = folderOf(mailbox, event.folderId);
      assert(event.uidNext > folder.uidNext, `UIDNEXT ${event.uidNext} does not grow past ${folder.uidNext}`);
      bumpModseq(mailbox, folder, event.modseq);
      folder.uidNext = event.uidNext;
      touched.mailboxes.add(mailbox.mailboxId);
      touched.folders.add(`${mailbox.mailboxId}/${folder.folderId}`);
      return;
    }
    case EventType.AclSet:
    case EventType.FolderAddressSet: {
      const mailbox = mailboxOf(state, event.mailboxId);
      const folder = folderOf(mailbox, event.folderId);
      assert(folder.name === event.name, `${event.type === EventType.AclSet ? 'ACL' : 'address'} change names ${event.name} but the folder is ${folder.name}`);
      if (event.type === EventType.FolderAddressSet) folder.address = event.address;
      else if (event.rights === null) delete folder.acl[event.identifier];
      else folder.acl[event.identifier] = event.rights;
      bumpModseq(mailbox, folder, event.modseq);
      touched.mailboxes.add(mailbox.mailboxId);
      touched.folders.add(`${mailbox.mailboxId}/${folder.folderId}`);
      return;
    }
    case EventType.ContentStored: {
      assert(!state.contents.has(event.hash), `content ${event.hash} stored twice`);
      state.contents.set(event.hash, { refs: 0, sizeBytes: event.sizeBytes });
      touched.contents.add(event.hash);
      touched.contentData.set(event.hash, encodeContentRecord(event.compression, event.data));
      if (event.summary !== undefined) touched.contentSummaries.set(event.hash, event.summary);
      return;
    }
    case EventType.MessageAppended: {
      const mailbox = mailboxOf(state, event.mailboxId);
      const folder = folderOf(mailbox, event.folderId);
      assert(event.uid >= folder.uidNext, `UID ${event.uid} does not grow past UIDNEXT ${folder.uidNext}`);
      const content = state.contents.get(event.hash);
      assert(content !== undefined, `message refers to content ${event.hash} never stored`);
      const prefixBytes = event.prefix?.length ?? 0;
      assert(content.sizeBytes + prefixBytes === event.sizeBytes, 'message size differs from its prefix and content');
      content.refs += 1;
      bumpModseq(mailbox, folder, event.modseq);
      const message: MessageMeta = {
        uid: event.uid,
        modseq: event.modseq,
        emailId: event.emailId,
        threadId: event.threadId,
        hash: event.hash,
        sizeBytes: event.sizeBytes,
        internalDateMs: event.internalDateMs,
        flags: [...event.flags],
        ...(prefixBytes > 0 ? { prefix: Buffer.from(event.prefix!.buffer, event.prefix!.byteOffset, prefixBytes).toString('latin1') } : {}),
      };
      folder.messages.push(message);
      folder.uidNext = event.uid + 1;
      folder.sizeBytes += event.sizeBytes;
      if (!message.flags.includes(seenFlag)) folder.unseenCount += 1;
      mailbox.usedBytes += event.sizeBytes;
      touched.contents.add(event.hash);
      touched.mailboxes.add(mailbox.mailboxId);
      touched.folders.add(`${mailbox.mailboxId}/${folder.folderId}`);
      touched.messages.set(`${mailbox.mailboxId}/${folder.folderId}/${event.uid}`, true);
      return;
    }
    case EventType.FlagsSet: {
      const mailbox = mailboxOf(state, event.mailboxId);
      const folder = folderOf(mailbox, event.folderId);
      bumpModseq(mailbox, folder, event.modseq);
      for (const item of event.items) {
        const index = findMessageIndex(folder, item.uid);
        assert(index >= 0, `flags set on missing UID ${item.uid}`);
        const message = folder.messages[index]!;
        assert(message.emailId === item.emailId, `flags set names email ${item.emailId} but UID ${item.uid} is ${message.emailId}`);
        const wasSeen = message.flags.includes(seenFlag);
        message.flags = [...item.flags];
        message.modseq = event.modseq;
        const isSeen = message.flags.includes(seenFlag);
        if (wasSeen !== isSeen) folder.unseenCount += isSeen ? -1 : 1;
        touched.messages.set(`${mailbox.mailboxId}/${folder.folderId}/${item.uid}`, true);
      }
      touched.mailboxes.add(mailbox.mailboxId);
      touched.folders.add(`${mailbox.mailboxId}/${folder.folderId}`);
      return;
    }
    case EventType.DocumentSet: {
      const mailbox = mailboxOf(state, event.mailboxId);
      const kind = documentKindOf(mailbox, event.kind);
      const current = kind.documents.get(event.id);
      if (current !== undefined) assert(current.createdModseq === event.createdModseq, `document ${event.kind}/${event.id} names its creation at ${event.createdModseq}, not ${current.createdModseq}`);
      else if (mailbox.importing !== true) assert(event.createdModseq === event.modseq, `new document ${event.kind}/${event.id} created at another modseq`);
      assert(event.createdModseq <= event.modseq, `document ${event.kind}/${event.id} created after it changed`);
      bumpDocumentModseq(mailbox, kind, event.modseq);
      kind.documents.set(event.id, { id: event.id, value: event.value, modseq: event.modseq, createdModseq: event.createdModseq });
      touchDocument(touched, mailbox.mailboxId, event.kind, event.id);
      return;
    }
    case EventType.DocumentDestroyed: {
      const mailbox = mailboxOf(state, event.mailboxId);
      const kind = documentKindOf(mailbox, event.kind);
      const current = kind.documents.get(event.id);
      assert(current !== undefined, `destroy of missing document ${event.kind}/${event.id}`);
      assert(current.modseq === event.destroyedModseq && current.createdModseq === event.createdModseq, `destroy of ${event.kind}/${event.id} names version ${event.destroyedModseq}, but it is at ${current.modseq}`);
      bumpDocumentModseq(mailbox, kind, event.modseq);
      kind.documents.delete(event.id);
      kind.destroyed.push({ id: event.id, createdModseq: event.createdModseq, modseq: event.modseq });
      const excess = kind.destroyed.length - documentsDestroyedKeptMax;
      if (excess > 0) kind.destroyedDroppedModseq = kind.destroyed.splice(0, excess)[excess - 1]!.modseq;
      touchDocument(touched, mailbox.mailboxId, event.kind, event.id);
      return;
    }
    case EventType.DocumentsImported: {
      const mailbox = mailboxOf(state, event.mailboxId);
      assert(mailbox.importing === true, `documents imported into ${event.mailboxId}, which is not importing`);
      const kind = documentKindOf(mailbox, event.kind);
      for (const document of kind.documents.values()) assert(document.modseq <= event.modseqHighest, `document ${event.kind}/${document.id} has modseq ${document.modseq} past the imported ${event.modseqHighest}`);
      kind.modseqHighest = event.modseqHighest;
      kind.destroyed = event.destroyed.map((d) => ({ id: d.id, createdModseq: d.createdModseq, modseq: d.modseq }));
      kind.destroyedDroppedModseq = event.destroyedDroppedModseq;
      mailbox.documentModseq = Math.max(mailbox.documentModseq, event.modseqHighest);
      touchDocument(touched, mailbox.mailboxId, event.kind);
      return;
    }
    case EventType.MessagesExpunged: {
      const mailbox = mailboxOf(state, event.mailboxId);
      const folder = folderOf(mailbox, event.folderId);
      bumpModseq(mailbox, folder, event.modseq);
      const gone = new Set<number>();
      for (const item of event.items) {
        const index = findMessageIndex(folder, item.uid);
        assert(index >= 0, `expunge of missing UID ${item.uid}`);
        const message = folder.messages[index]!;
        assert(message.emailId === item.emailId, `expunge names email ${item.emailId} but UID ${item.uid} is ${message.emailId}`);
        assert(!gone.has(item.uid), `UID ${item.uid} expunged twice in one event`);
        gone.add(item.uid);
        folder.sizeBytes -= message.sizeBytes;
        mailbox.usedBytes -= message.sizeBytes;
        if (!message.flags.includes(seenFlag)) folder.unseenCount -= 1;
        releaseContent(state, message.hash, touched);
        folder.expunged.push({ modseq: event.modseq, uid: item.uid, emailId: item.emailId });
        touched.messages.set(`${mailbox.mailboxId}/${folder.folderId}/${item.uid}`, false);
      }
      folder.messages = folder.messages.filter((m) => !gone.has(m.uid));
      const excess = folder.expunged.length - expungedPerFolderMax;
      if (excess > 0) folder.expungedDroppedModseq = folder.expunged.splice(0, excess)[excess - 1]!.modseq;
      touched.mailboxes.add(mailbox.mailboxId);
      touched.folders.add(`${mailbox.mailboxId}/${folder.folderId}`);
      return;
    }
  }
}

// Content record as kept in the state store: one byte of compression, then the bytes.
export function encodeContentRecord(compression: 'none' | 'deflate', data: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + data.length);
  out[0] = compression === 'deflate' ? 1 : 0;
  out.set(data, 1);
  return out;
}

export function decodeContentRecord(record: Uint8Array): { compression: 'none' | 'deflate'; data: Uint8Array } {
  assert(record.length >= 1 && (record[0] === 0 || record[0] === 1), 'bad content record');
  return { compression: record[0] === 1 ? 'deflate' : 'none', data: record.subarray(1) };
}

/** A canonical, order-independent dump of the state, for comparing live state with a replay. */
export function canonicalState(state: DatabaseState): string {
  const mailboxes = [...state.mailboxes.values()]
    .sort((a, b) => (a.mailboxId < b.mailboxId ? -1 : 1))
    .map((m) => ({
      ...m,
      folders: [...m.folders.values()].sort((a, b) => a.folderId - b.folderId),
      folderIdsByName: [...m.folderIdsByName.entries()].sort(),
      subscriptions: [...m.subscriptions].sort(),
      documents: [...m.documents.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([kind, k]) => ({ kind, ...k, documents: [...k.documents.values()].sort((a, b) => (a.id < b.id ? -1 : 1)) })),
    }));
  const contents = [...state.contents.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const retiredUidValidity = [...state.retiredUidValidity.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return stableStringify({ mailboxes, contents, retiredUidValidity, position: state.position });
}

/** JSON with object keys sorted, so two equal states print the same whatever order built them. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
