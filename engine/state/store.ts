// How the materialized state is laid out in the state store, and how it is written (from what
// a batch of events touched) and read back at open.
//
//   !checkpoint                         {"position": n}   the log position the state is complete up to
//   m/<mailboxId>                       mailbox header (address, quota, modseq, subscriptions)
//   f/<mailboxId>/<folderId:8 hex>      folder header (name, UIDVALIDITY, UIDNEXT, counts, expunged, ACL, address)
//   e/<mailboxId>/<folderId>/<uid:8 hex> one message's metadata (flags, modseq, content hash)
//   r/<hash>                            content reference count and size
//   c/<hash>                            content bytes (1 byte compression, then data)
//   u/<mailboxId>                       last UIDVALIDITY of a deleted mailbox id {"uidValidity": n}
//   s/<hash>                            the content's MIME summary (JSON, engine/mime/types.ts)
//   k/["<mailboxId>","<kind>"]          an account document kind: highest modseq, destroyed history
//   d/["<mailboxId>","<kind>","<id>"]   one account document {mailboxId, kind, id, value, modseq, createdModseq}
//
// The checkpoint is written in the same atomic batch as the state it describes.

import { assert } from '../assert.js';
import type { KvOp, KvStore } from './kv.js';
import {
  type DatabaseState,
  type DocumentKindState,
  type FolderState,
  type StoredDocument,
  type MailboxState,
  type MessageMeta,
  type Touched,
  emptyState,
  findMessageIndex,
} from './model.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const json = (value: unknown): Uint8Array => enc.encode(JSON.stringify(value));
const parse = <T>(bytes: Uint8Array): T => JSON.parse(dec.decode(bytes)) as T;
const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

export const checkpointKey = '!checkpoint';
export const mailboxKey = (mailboxId: string): string => `m/${mailboxId}`;
export const folderKey = (mailboxId: string, folderId: number): string => `f/${mailboxId}/${hex8(folderId)}`;
export const messageKey = (mailboxId: string, folderId: number, uid: number): string => `e/${mailboxId}/${hex8(folderId)}/${hex8(uid)}`;
export const contentKey = (hash: string): string => `c/${hash}`;
export const summaryKey = (hash: string): string => `s/${hash}`;
const refKey = (hash: string): string => `r/${hash}`;
const retiredKey = (mailboxId: string): string => `u/${mailboxId}`;
/** `ref` is documentRef(mailboxId, kind[, id]): JSON, so no name can make two keys meet. */
const documentKindKey = (ref: string): string => `k/${ref}`;
const documentKey = (ref: string): string => `d/${ref}`;

type MailboxRecord = Omit<MailboxState, 'folders' | 'folderIdsByName' | 'subscriptions' | 'documents' | 'documentModseq'> & { subscriptions: string[]; documentModseq?: number };
type DocumentKindRecord = Omit<DocumentKindState, 'documents'> & { mailboxId: string; kind: string };
type DocumentRecord = StoredDocument & { mailboxId: string; kind: string };
type FolderRecord = Omit<FolderState, 'messages'>;

function mailboxRecord(m: MailboxState): MailboxRecord {
  const { folders: _f, folderIdsByName: _n, subscriptions, documents: _d, ...rest } = m;
  return { ...rest, subscriptions: [...subscriptions].sort() };
}

function folderRecord(f: FolderState): FolderRecord {
  const { messages: _m, ...rest } = f;
  return rest;
}

/**
 * The value `materialize` would write for a content or summary key (`c/`, `s/`) from `touched`,
 * without materializing: null when it deletes it, undefined when `touched` does not write it
 * (a passive copy serves contents replayed but not written yet from here).
 */
export function touchedContentValue(touched: Touched, key: string): Uint8Array | null | undefined {
  const hash = key.slice(2);
  const data = touched.contentData.get(hash);
  if (key === contentKey(hash)) return data;
  if (key !== summaryKey(hash)) return undefined;
  if (data === null) return null;
  const summary = touched.contentSummaries.get(hash);
  return summary === undefined ? undefined : json(summary);
}

/** The state-store writes that bring it up to `state` for what `touched` names, plus the checkpoint. */
export function materialize(state: DatabaseState, touched: Touched): KvOp[] {
  const ops: KvOp[] = [];
  for (const removed of touched.foldersRemoved) {
    ops.push({ key: folderKey(removed.mailboxId, removed.folderId), value: null });
    for (const uid of removed.uids) ops.push({ key: messageKey(removed.mailboxId, removed.folderId, uid), value: null });
  }
  for (const mailboxId of touched.mailboxesRemoved) ops.push({ key: mailboxKey(mailboxId), value: null });
  for (const mailboxId of touched.mailboxes) {
    const mailbox = state.mailboxes.get(mailboxId);
    if (mailbox !== undefined) ops.push({ key: mailboxKey(mailboxId), value: json(mailboxRecord(mailbox)) });
  }
  for (const id of touched.folders) {
    const [mailboxId, folderId] = splitFolderId(id);
    const folder = state.mailboxes.get(mailboxId)?.folders.get(folderId);
    if (folder !== undefined) ops.push({ key: folderKey(mailboxId, folderId), value: json(folderRecord(folder)) });
  }
  for (const [id, exists] of touched.messages) {
    const slash = id.lastIndexOf('/');
    const [mailboxId, folderId] = splitFolderId(id.slice(0, slash));
    const uid = Number(id.slice(slash + 1));
    const folder = state.mailboxes.get(mailboxId)?.folders.get(folderId);
    const index = exists && folder !== undefined ? findMessageIndex(folder, uid) : -1;
    ops.push({ key: messageKey(mailboxId, folderId, uid), value: index >= 0 ? json(folder!.messages[index]) : null });
  }
  for (const hash of touched.contents) {
    const ref = state.contents.get(hash);
    ops.push({ key: refKey(hash), value: ref === undefined ? null : json(ref) });
  }
  for (const [hash, data] of touched.contentData) {
    ops.push({ key: contentKey(hash), value: data });
    if (data === null) ops.push({ key: summaryKey(hash), value: null });
  }
  for (const [hash, summary] of touched.contentSummaries) {
    if (touched.contentData.get(hash) !== null) ops.push({ key: summaryKey(hash), value: json(summary) });
  }
  for (const mailboxId of touched.retired) {
    const uidValidity = state.retiredUidValidity.get(mailboxId);
    ops.push({ key: retiredKey(mailboxId), value: uidValidity === undefined ? null : json({ uidValidity }) });
  }
  for (const ref of touched.documentKinds) {
    const [mailboxId, kind] = JSON.parse(ref) as [string, string];
    const found = state.mailboxes.get(mailboxId)?.documents.get(kind);
    const record: DocumentKindRecord | null = found === undefined ? null : { mailboxId, kind, modseqHighest: found.modseqHighest, destroyed: found.destroyed, destroyedDroppedModseq: found.destroyedDroppedModseq };
    ops.push({ key: documentKindKey(ref), value: record === null ? null : json(record) });
  }
  for (const ref of touched.documents) {
    const [mailboxId, kind, id] = JSON.parse(ref) as [string, string, string];
    const found = state.mailboxes.get(mailboxId)?.documents.get(kind)?.documents.get(id);
    ops.push({ key: documentKey(ref), value: found === undefined ? null : json({ mailboxId, kind, ...found } satisfies DocumentRecord) });
  }
  ops.push({ key: checkpointKey, value: json({ position: state.position }) });
  return ops;
}

function splitFolderId(id: string): [string, number] {
  const slash = id.lastIndexOf('/');
  return [id.slice(0, slash), Number(id.slice(slash + 1))];
}

/** Reads the whole materialized state (without content bytes) back from the store. */
export async function loadState(kv: KvStore): Promise<DatabaseState> {
  const state = emptyState();
  const checkpoint = await kv.get(checkpointKey);
  if (checkpoint === undefined) return state;
  state.position = parse<{ position: number }>(checkpoint).position;
  for await (const [, value] of kv.scan('m/')) {
    const record = parse<MailboxRecord>(value);
    state.mailboxes.set(record.mailboxId, {
      ...record,
      public: record.public ?? false, // records written before public folders existed
      folders: new Map(),
      folderIdsByName: new Map(),
      subscriptions: new Set(record.subscriptions),
      documentModseq: record.documentModseq ?? 0, // records written before account documents
      documents: new Map(),
    });
  }
  for await (const [key, value] of kv.scan('f/')) {
    const record = parse<FolderRecord>(value);
    const mailbox = state.mailboxes.get(key.slice(2, key.lastIndexOf('/')));
    assert(mailbox !== undefined, `state store has folder ${key} without its mailbox`);
    // Folder records written before the expunge history was capped have no expungedDroppedModseq;
    // before ACLs and mail-enabled folders, no acl or address.
    mailbox.folders.set(record.folderId, {
      ...record,
      expungedDroppedModseq: record.expungedDroppedModseq ?? 0,
      acl: record.acl ?? {},
      address: record.address ?? null,
      messages: [],
    });
    mailbox.folderIdsByName.set(record.name, record.folderId);
  }
  for await (const [key, value] of kv.scan('e/')) {
    const parts = key.split('/');
    const folder = state.mailboxes.get(parts[1]!)?.folders.get(parseInt(parts[2]!, 16));
    assert(folder !== undefined, `state store has message ${key} without its folder`);
    folder.messages.push(parse<MessageMeta>(value)); // keys sort by hex UID, so the list stays in UID order
  }
  for await (const [key, value] of kv.scan('r/')) state.contents.set(key.slice(2), parse(value));
  for await (const [key, value] of kv.scan('u/')) state.retiredUidValidity.set(key.slice(2), parse<{ uidValidity: number }>(value).uidValidity);
  for await (const [key, value] of kv.scan('k/')) {
    const { mailboxId, kind, ...record } = parse<DocumentKindRecord>(value);
    const mailbox = state.mailboxes.get(mailboxId);
    assert(mailbox !== undefined, `state store has document kind ${key} without its mailbox`);
    mailbox.documents.set(kind, { ...record, documents: new Map() });
  }
  for await (const [key, value] of kv.scan('d/')) {
    const { mailboxId, kind, ...document } = parse<DocumentRecord>(value);
    const documents = state.mailboxes.get(mailboxId)?.documents.get(kind)?.documents;
    assert(documents !== undefined, `state store has document ${key} without its kind`);
    documents.set(document.id, document);
  }
  return state;
}
