// Turns a transaction request into events, against the writer's view of the state (the "head":
// durable state plus commits still waiting for their fsync). Two passes:
//
//  1. check: every expected failure (missing folder or mailbox, name taken, quota, UIDVALIDITY,
//     limits) is found before anything changes, so a failing transaction changes nothing;
//  2. build: each operation's events are stamped (UIDs, modseqs, ids, times) and applied to the
//     head at once, so the next operation, and the next transaction, see them.
//
// Missing UIDs in store/expunge/copy/move are skipped, as IMAP wants for UID commands.

import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import type { CommitResult, OpResult, TxOp, TxRequest } from '../api.js';
import { assert } from '../assert.js';
import {
  aclEntriesPerFolderMax,
  aclIdentifierBytesMax,
  aclRights,
  compressBytesMin,
  compressRatioMax,
  defaultFolders,
  documentBytesMax,
  documentIdBytesMax,
  documentKindBytesMax,
  documentKindsPerMailboxMax,
  documentsDestroyedKeptMax,
  documentsPerKindMax,
  flagBytesMax,
  flagsPerMessageMax,
  folderAddressBytesMax,
  folderDepthMax,
  folderNameBytesMax,
  folderSeparator,
  foldersPerMailboxMax,
  messageBytesMax,
  messagePrefixBytesMax,
  transactionOpsMax,
  expungedPerFolderMax,
} from '../constants.js';
import { type Failure, type Result, fail, ok } from '../errors.js';
import { EventType, type MailEvent } from '../events/types.js';
import { summaryJson } from '../events/v1.js';
import type { Clock, Prng } from '../io.js';
import { summarize } from '../mime/parse.js';
import type { MessageSummary } from '../mime/types.js';
import { appendBytesMax } from '../log/codec.js';
import { headerTakesPrefix, isSummaryField } from '../mime/prefix.js';
import { type DatabaseState, type MailboxState, apply, emptyTouched, findMessageIndex, messagePrefix, withPrefixBytes } from './model.js';

export interface PlanContext {
  readonly clock: Clock;
  readonly prng: Prng;
  /** Content hashes already computed for these very arrays (commitMany: one content, many recipients, hashed once). */
  readonly hashes?: WeakMap<Uint8Array, string>;
}

export interface Plan {
  readonly events: MailEvent[];
  readonly results: OpResult[];
  readonly modseqHighest: number;
}

const utf8 = new TextEncoder();

export function normalizeFolderName(name: string): string {
  return name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
}

function checkFolderName(name: string): Failure | null {
  if (name.length === 0 || utf8.encode(name).length > folderNameBytesMax) return fail('INVALID_ARGUMENT', 'folder name empty or too long');
  if (name.split(folderSeparator).length > folderDepthMax) return fail('INVALID_ARGUMENT', 'folder hierarchy too deep');
  if (name.startsWith(folderSeparator) || name.endsWith(folderSeparator) || name.includes(folderSeparator + folderSeparator)) {
    return fail('INVALID_ARGUMENT', 'folder name has an empty hierarchy level');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f*%]/.test(name)) return fail('INVALID_ARGUMENT', 'folder name contains a control or wildcard character');
  return null;
}

function checkFlags(flags: readonly string[]): Failure | null {
  if (flags.length > flagsPerMessageMax) return fail('LIMIT', `more than ${flagsPerMessageMax} flags`);
  for (const flag of flags) {
    if (flag.length === 0 || flag.length > flagBytesMax || /[\s()"{%*\]\\]/.test(flag.replace(/^\\/, ''))) {
      return fail('INVALID_ARGUMENT', `bad flag ${JSON.stringify(flag.slice(0, 40))}`);
    }
  }
  return null;
}

const documentKindPattern = /^[a-z][a-z0-9-]*$/;

function checkDocumentName(kind: string, id: string): Failure | null {
  if (typeof kind !== 'string' || kind.length > documentKindBytesMax || !documentKindPattern.test(kind)) return fail('INVALID_ARGUMENT', `a document kind is lower-case letters, digits and "-", at most ${documentKindBytesMax}`);
  // eslint-disable-next-line no-control-regex
  if (typeof id !== 'string' || id.length === 0 || utf8.encode(id).length > documentIdBytesMax || /[\u0000-\u001f\u007f]/.test(id)) {
    return fail('INVALID_ARGUMENT', `a document id is 1 to ${documentIdBytesMax} bytes without control characters`);
  }
  return null;
}

/** The JSON text of a document value, or why it cannot be one. */
function documentJson(value: unknown): Result<string> {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    return fail('INVALID_ARGUMENT', `a document value must be JSON: ${(error as Error).message}`);
  }
  if (text === undefined) return fail('INVALID_ARGUMENT', 'a document value must be JSON');
  if (utf8.encode(text).length > documentBytesMax) return fail('LIMIT', `a document is at most ${documentBytesMax} bytes of JSON`);
  return ok(text);
}

function messageBytes(mailbox: MailboxState, folder: string, uids: readonly number[]): number {
  const f = mailbox.folders.get(mailbox.folderIdsByName.get(folder)!);
  if (f === undefined) return 0;
  let total = 0;
  for (const uid of uids) {
    const index = findMessageIndex(f, uid);
    if (index >= 0) total += f.messages[index]!.sizeBytes;
  }
  return total;
}

/** Pass 1: every expected failure, with no change to the state. */
function check(state: DatabaseState, request: TxRequest, hashes?: WeakMap<Uint8Array, string>): Failure | null {
  if (request.ops.length === 0) return fail('INVALID_ARGUMENT', 'empty transaction');
  if (request.ops.length > transactionOpsMax) return fail('LIMIT', 'too many operations in one transaction');
  const creating = request.ops[0]!.op === 'createMailbox';
  const mailbox = state.mailboxes.get(request.mailboxId);
  if (creating) {
    if (mailbox !== undefined) return fail('USER_EXISTS', 'mailbox exists');
    return request.ops.length === 1 ? null : fail('INVALID_ARGUMENT', 'createMailbox must be alone in its transaction');
  }
  if (mailbox === undefined) return fail('NO_SUCH_MAILBOX', `no mailbox ${request.mailboxId} in this database`);
  for (const [folder, uidValidity] of Object.entries(request.expectUidValidity ?? {})) {
    const f = mailbox.folders.get(mailbox.folderIdsByName.get(normalizeFolderName(folder)) ?? -1);
    if (f === undefined) return fail('NO_SUCH_FOLDER', `no folder ${folder}`);
    if (f.uidValidity !== uidValidity) return fail('UIDVALIDITY_CHANGED', `UIDVALIDITY of ${folder} is now ${f.uidValidity}`);
  }
  for (const [kind, modseq] of Object.entries(request.expectDocuments ?? {})) {
    const now = mailbox.documents.get(kind)?.modseqHighest ?? 0;
    if (now !== modseq) return fail('MODIFIED', `the ${kind} documents changed (state ${now}, not ${modseq})`);
  }
  const names = new Set(mailbox.folderIdsByName.keys());
  let usedBytes = mailbox.usedBytes;
  // The log bytes the appends will take (new contents with their summaries, each message's record): one append holds at most appendBytesMax.
  let logBytes = 0;
  // Documents: kinds and new ids this transaction adds, and the modseqs it gives (importing).
  const kinds = new Set(mailbox.documents.keys());
  const created = new Map<string, Set<string>>();
  const givenDocumentModseqs = new Map<string, number>();
  // Given UIDs and UIDVALIDITYs (a mailbox move) must keep growing, through the whole transaction.
  let uidValidityLast = mailbox.uidValidityLast;
  const uidNexts = new Map<string, number>();
  const uidNextOf = (name: string): number => uidNexts.get(name) ?? mailbox.folders.get(mailbox.folderIdsByName.get(name) ?? -1)?.uidNext ?? 1;
  const givenUids = request.ops.some((op) => (op.op === 'append' && op.uid !== undefined) || op.op === 'raiseUidNext');
  const badNumber = (n: number): boolean => !Number.isInteger(n) || n < 1 || n > 0xffffffff;
  const need = (name: string): Failure | null => (names.has(normalizeFolderName(name)) ? null : fail('NO_SUCH_FOLDER', `no folder ${name}`));
  let folderIdNext = mailbox.folderIdNext;
  // Importing (a move's target): the highest modseq each folder's messages will carry after this transaction.
  const messageModseqs = new Map<string, number>();
  const noteModseq = (name: string, modseq: number | undefined): void => {
    const key = normalizeFolderName(name);
    messageModseqs.set(key, Math.max(messageModseqs.get(key) ?? 0, modseq ?? Number.POSITIVE_INFINITY));
  };
  const importOnly = (op: TxOp): boolean =>
    op.op === 'importFolder' || op.op === 'finishImport' || (op.op === 'createFolder' && op.folderId !== undefined) || op.op === 'importDocuments' ||
    (op.op === 'setDocument' && (op.modseq !== undefined || op.createdModseq !== undefined)) ||
    (op.op === 'append' && (op.modseq !== undefined || op.emailId !== undefined || op.threadId !== undefined)) || (op.op === 'store' && op.modseq !== undefined);
  const badModseq = (n: number): boolean => !Number.isSafeInteger(n) || n < 1;
  for (const op of request.ops) {
    let problem: Failure | null = null;
    if (importOnly(op) && mailbox.importing !== true) return fail('INVALID_ARGUMENT', `${op.op} with the source's modseqs, ids or counters is for a mailbox move's target only`);
    switch (op.op) {
      case 'createMailbox':
        return fail('INVALID_ARGUMENT', 'createMailbox must be alone in its transaction');
      case 'deleteMailbox':
        if (op.address !== mailbox.address) return fail('INVALID_ARGUMENT', 'deleteMailbox names another address');
        break;
      case 'setQuota':
        break;
      case 'createFolder': {
        const name = normalizeFolderName(op.name);
        problem = checkFolderName(name);
        if (problem === null && names.has(name)) problem = fail('FOLDER_EXISTS', `folder ${name} exists`);
        if (problem === null && names.size >= foldersPerMailboxMax) problem = fail('LIMIT', 'too many folders');
        if (problem === null && op.uidValidity !== undefined) {
          if (badNumber(op.uidValidity)) problem = fail('INVALID_ARGUMENT', 'UIDVALIDITY must be an integer from 1 to 2^32-1');
          else if (op.uidValidity <= uidValidityLast) problem = fail('INVALID_ARGUMENT', `UIDVALIDITY ${op.uidValidity} does not exceed ${uidValidityLast}`);
          else uidValidityLast = op.uidValidity;
        } else uidValidityLast = 0xffffffff; // a planned UIDVALIDITY follows the clock: no given one after it
        if (problem === null && op.folderId !== undefined && (!Number.isSafeInteger(op.folderId) || op.folderId < folderIdNext)) {
          problem = fail('INVALID_ARGUMENT', `folder id ${op.folderId} is below the next one, ${folderIdNext}`);
        }
        folderIdNext = (op.folderId ?? folderIdNext) + 1;
        names.add(name);
        uidNexts.set(name, 1);
        break;
      }
      case 'renameFolder': {
        const from = normalizeFolderName(op.from);
        const to = normalizeFolderName(op.to);
        problem = need(from) ?? checkFolderName(to);
        if (problem === null && from === 'INBOX') problem = fail('FOLDER_PROTECTED', 'INBOX cannot be renamed here');
        if (problem === null && names.has(to)) problem = fail('FOLDER_EXISTS', `folder ${to} exists`);
        if (problem === null && (to + folderSeparator).startsWith(from + folderSeparator)) problem = fail('INVALID_ARGUMENT', 'cannot rename a folder into itself');
        if (problem === null) {
          for (const name of [...names]) {
            if (name === from || name.startsWith(from + folderSeparator)) {
              names.delete(name);
              names.add(to + name.slice(from.length));
            }
          }
        }
        break;
      }
      case 'deleteFolder': {
        const name = normalizeFolderName(op.name);
        problem = need(name);
        if (problem === null && name === 'INBOX') problem = fail('FOLDER_PROTECTED', 'INBOX cannot be deleted');
        names.delete(name);
        break;
      }
      case 'subscribe':
        problem = checkFolderName(normalizeFolderName(op.name));
        break;
      case 'setAcl': {
        problem = need(op.folder) ?? checkAclEntry(op.identifier, op.rights);
        const folder = mailbox.folders.get(mailbox.folderIdsByName.get(normalizeFolderName(op.folder)) ?? -1);
        if (problem === null && op.rights !== null && folder !== undefined && !(op.identifier in folder.acl) && Object.keys(folder.acl).length >= aclEntriesPerFolderMax) {
          problem = fail('LIMIT', `a folder's ACL holds at most ${aclEntriesPerFolderMax} entries`);
        }
        break;
      }
      case 'setFolderAddress':
        problem = need(op.folder);
        if (problem === null && op.address !== null && (!/^[^\s@<>]+@[^\s@<>]+$/.test(op.address) || utf8.encode(op.address).length > folderAddressBytesMax)) {
          problem = fail('INVALID_ARGUMENT', `not an SMTP address: ${op.address}`);
        }
        break;
      case 'append':
        problem = need(op.folder) ?? checkFlags(op.flags ?? []) ?? checkPrefix(op.prefix);
        if (problem === null && op.content.length + (op.prefix?.length ?? 0) > messageBytesMax) problem = fail('TOO_BIG', `message over ${messageBytesMax} bytes`);
        if (problem === null) {
          // A record the log cannot take would fail the database after the head changed: refused here instead.
          const form = storedForm(op, hashes);
          logBytes += form.prefix.length + messageRecordBytesMax;
          if (!state.contents.has(form.hash)) logBytes += form.content.length + Buffer.byteLength(summaryJson(summaryOfForm(form))) + messageRecordBytesMax;
          if (logBytes > appendBytesMax) problem = fail('TOO_BIG', `the transaction's messages and their MIME structure take more than one log batch (${appendBytesMax} bytes)`);
        }
        if (problem === null) {
          const name = normalizeFolderName(op.folder);
          const uidNext = uidNextOf(name);
          if (op.uid !== undefined && badNumber(op.uid)) problem = fail('INVALID_ARGUMENT', 'UID must be an integer from 1 to 2^32-1');
          else if (op.uid !== undefined && op.uid < uidNext) problem = fail('INVALID_ARGUMENT', `UID ${op.uid} is below UIDNEXT ${uidNext} of ${name}`);
          else uidNexts.set(name, (op.uid ?? uidNext) + 1);
        }
        if (problem === null && op.modseq !== undefined && badModseq(op.modseq)) problem = fail('INVALID_ARGUMENT', 'modseq must be a positive integer');
        for (const id of [op.emailId, op.threadId]) {
          if (problem === null && id !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(id)) problem = fail('INVALID_ARGUMENT', 'an email or thread id is 1 to 64 letters, digits, "-" or "_"');
        }
        noteModseq(op.folder, op.modseq);
        usedBytes += op.content.length + (op.prefix?.length ?? 0);
        break;
      case 'store':
        problem = need(op.folder) ?? checkFlags(op.flags);
        if (problem === null && op.modseq !== undefined && badModseq(op.modseq)) problem = fail('INVALID_ARGUMENT', 'modseq must be a positive integer');
        noteModseq(op.folder, op.modseq);
        break;
      case 'importFolder': {
        const name = normalizeFolderName(op.folder);
        problem = need(name);
        const folder = mailbox.folders.get(mailbox.folderIdsByName.get(name) ?? -1);
        if (problem === null && folder === undefined) problem = fail('INVALID_ARGUMENT', 'importFolder names a folder created in the same transaction');
        if (problem !== null || folder === undefined) break;
        let highest = messageModseqs.get(name) ?? 0;
        for (const message of folder.messages) highest = Math.max(highest, message.modseq);
        let last = op.expungedDroppedModseq;
        const ascending = op.expunged.every((e) => {
          const good = !badNumber(e.uid) && !badModseq(e.modseq) && e.modseq >= last && e.modseq <= op.modseqHighest;
          last = e.modseq;
          return good;
        });
        if (badNumber(op.uidNext) || op.uidNext < uidNextOf(name)) problem = fail('INVALID_ARGUMENT', `UIDNEXT ${op.uidNext} is below ${uidNextOf(name)} of ${name}`);
        else if (badModseq(op.modseqHighest) || op.modseqHighest < highest) problem = fail('INVALID_ARGUMENT', `HIGHESTMODSEQ ${op.modseqHighest} is below a message's modseq in ${name}`);
        else if (op.expunged.length > expungedPerFolderMax) problem = fail('LIMIT', `more than ${expungedPerFolderMax} expunged UIDs`);
        else if (!Number.isSafeInteger(op.expungedDroppedModseq) || op.expungedDroppedModseq < 0 || !ascending) problem = fail('INVALID_ARGUMENT', 'the expunge history must have ascending modseqs up to HIGHESTMODSEQ');
        else uidNexts.set(name, op.uidNext);
        break;
      }
      case 'finishImport': {
        if (request.ops.length !== 1) return fail('INVALID_ARGUMENT', 'finishImport must be alone in its transaction');
        const highest = Math.max(0, ...[...mailbox.folders.values()].map((f) => f.modseqHighest));
        if (badModseq(op.modseqHighest) || op.modseqHighest < highest) problem = fail('INVALID_ARGUMENT', `HIGHESTMODSEQ ${op.modseqHighest} is below a folder's ${highest}`);
        break;
      }
      case 'expunge':
        problem = need(op.folder);
        break;
      case 'setDocument': {
        problem = checkDocumentName(op.kind, op.id);
        if (problem === null) {
          const json = documentJson(op.value);
          if (!json.ok) problem = json;
        }
        if (problem === null && op.keepNewest !== undefined && (!Number.isInteger(op.keepNewest) || op.keepNewest < 1 || op.keepNewest > documentsPerKindMax)) {
          problem = fail('INVALID_ARGUMENT', `keepNewest is 1 to ${documentsPerKindMax}`);
        }
        if (problem === null && (op.modseq !== undefined || op.createdModseq !== undefined)) {
          if (op.modseq === undefined || op.createdModseq === undefined || badModseq(op.modseq) || badModseq(op.createdModseq) || op.createdModseq > op.modseq) {
            problem = fail('INVALID_ARGUMENT', 'an imported document needs its modseq and createdModseq (positive, created first)');
          } else givenDocumentModseqs.set(op.kind, Math.max(givenDocumentModseqs.get(op.kind) ?? 0, op.modseq));
        }
        if (problem !== null) break;
        if (!kinds.has(op.kind)) {
          if (kinds.size >= documentKindsPerMailboxMax) problem = fail('LIMIT', `a mailbox keeps at most ${documentKindsPerMailboxMax} kinds of documents`);
          kinds.add(op.kind);
        }
        const existing = mailbox.documents.get(op.kind)?.documents;
        const fresh = created.get(op.kind) ?? new Set<string>();
        created.set(op.kind, fresh);
        if (problem === null && existing?.has(op.id) !== true && !fresh.has(op.id)) {
          fresh.add(op.id);
          if (op.keepNewest === undefined && (existing?.size ?? 0) + fresh.size > documentsPerKindMax) problem = fail('LIMIT', `a mailbox keeps at most ${documentsPerKindMax} ${op.kind} documents`);
        }
        break;
      }
      case 'destroyDocument':
        problem = checkDocumentName(op.kind, op.id);
        break;
      case 'importDocuments': {
        problem = checkDocumentName(op.kind, 'x');
        if (problem !== null) break;
        let highest = givenDocumentModseqs.get(op.kind) ?? 0;
        for (const document of mailbox.documents.get(op.kind)?.documents.values() ?? []) highest = Math.max(highest, document.modseq);
        let last = op.destroyedDroppedModseq;
        const ascending = op.destroyed.every((d) => {
          const good = checkDocumentName(op.kind, d.id) === null && !badModseq(d.createdModseq) && !badModseq(d.modseq) && d.createdModseq <= d.modseq && d.modseq >= last && d.modseq <= op.modseqHighest;
          last = d.modseq;
          return good;
        });
        if (badModseq(op.modseqHighest) || op.modseqHighest < highest) problem = fail('INVALID_ARGUMENT', `the ${op.kind} documents' modseq ${op.modseqHighest} is below one of theirs`);
        else if (op.destroyed.length > documentsDestroyedKeptMax) problem = fail('LIMIT', `more than ${documentsDestroyedKeptMax} destroyed documents`);
        else if (!Number.isSafeInteger(op.destroyedDroppedModseq) || op.destroyedDroppedModseq < 0 || !ascending) problem = fail('INVALID_ARGUMENT', 'the destroyed history must have ascending modseqs up to the highest');
        else if (!kinds.has(op.kind) && kinds.size >= documentKindsPerMailboxMax) problem = fail('LIMIT', `a mailbox keeps at most ${documentKindsPerMailboxMax} kinds of documents`);
        kinds.add(op.kind);
        break;
      }
      case 'raiseUidNext': {
        const name = normalizeFolderName(op.folder);
        problem = need(name);
        if (problem === null && (badNumber(op.uidNext) || op.uidNext <= uidNextOf(name))) problem = fail('INVALID_ARGUMENT', `UIDNEXT ${op.uidNext} does not exceed ${uidNextOf(name)} of ${name}`);
        if (problem === null) uidNexts.set(name, op.uidNext);
        break;
      }
      case 'copy':
        problem = need(op.folder) ?? need(op.to);
        if (problem === null && givenUids) problem = fail('INVALID_ARGUMENT', 'copy cannot share a transaction with given UIDs');
        usedBytes += messageBytes(mailbox, normalizeFolderName(op.folder), op.uids);
        break;
      case 'move':
        problem = need(op.folder) ?? need(op.to);
        if (problem === null && givenUids) problem = fail('INVALID_ARGUMENT', 'move cannot share a transaction with given UIDs');
        break;
    }
    if (problem !== null) return problem;
  }
  if (mailbox.quotaBytes !== null && usedBytes > mailbox.quotaBytes && usedBytes > mailbox.usedBytes) {
    return fail('OVER_QUOTA', `mailbox quota of ${mailbox.quotaBytes} bytes exceeded`);
  }
  return null;
}

// A prefix is whole header fields: a name, a colon, a value, CRLF, folded lines after it.
const prefixPattern = /^(?:[!-9;-~]+:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)+$/;
// Content that starts with a header field takes a prefix with no change to its structure;
// anything else (a body without a header, a leading fold or blank line) is stored whole.
const fieldStartPattern = /^[!-9;-~]{1,998}:/;

/** The (lower-case) names of a prefix's fields; the prefix matched prefixPattern. */
function prefixFieldNames(prefix: Uint8Array): string[] {
  const text = Buffer.from(prefix.buffer, prefix.byteOffset, prefix.length).toString('latin1');
  return text.split('\r\n').filter((line) => line.length > 0 && line[0] !== ' ' && line[0] !== '\t').map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
}

function checkPrefix(prefix: Uint8Array | undefined): Failure | null {
  if (prefix === undefined || prefix.length === 0) return null;
  if (prefix.length > messagePrefixBytesMax) return fail('LIMIT', `a message prefix holds at most ${messagePrefixBytesMax} bytes`);
  if (!prefixPattern.test(Buffer.from(prefix.buffer, prefix.byteOffset, prefix.length).toString('latin1'))) {
    return fail('INVALID_ARGUMENT', 'a message prefix is whole header fields, each ending in CRLF');
  }
  // The message reads as its content's summary shifted (engine/mime/prefix.ts): a field that summary is built from would change it.
  const read = prefixFieldNames(prefix).find(isSummaryField);
  if (read !== undefined) return fail('INVALID_ARGUMENT', `a message prefix holds trace fields only, not ${read}`);
  return null;
}

/**
 * Whether `content` can be read as prefix + content with the content's summary shifted
 * (engine/mime/prefix.ts): it starts with a header field and its header has room for the prefix.
 */
export function takesPrefix(content: Uint8Array, prefix: Uint8Array): boolean {
  if (!fieldStartPattern.test(Buffer.from(content.buffer, content.byteOffset, Math.min(content.length, 1000)).toString('latin1'))) return false;
  return headerTakesPrefix(content, prefix.length, prefixFieldNames(prefix).length);
}

/** What an append stores: its content (with the prefix when it cannot be kept apart), the prefix kept apart, the content's hash and (once asked) summary. */
interface StoredForm {
  readonly content: Uint8Array;
  readonly prefix: Uint8Array;
  readonly hash: string;
  summary?: MessageSummary;
}

/** Room for a record's header and JSON besides its raw bytes (a MessageAppended, or a ContentStored's fields). */
const messageRecordBytesMax = 4096;
const storedForms = new WeakMap<object, StoredForm>();

/** An append's stored form, worked out once per op (check and plan both ask); hashes shared through `hashes` (commitMany). */
function storedForm(op: Extract<TxOp, { op: 'append' }>, hashes?: WeakMap<Uint8Array, string>): StoredForm {
  let form = storedForms.get(op);
  if (form !== undefined) return form;
  // The prefix is kept per message only when the content can carry it unchanged; else the
  // message is stored whole, as before prefixes existed.
  let prefix = op.prefix ?? new Uint8Array(0);
  let content = op.content;
  if (prefix.length > 0 && !takesPrefix(content, prefix)) {
    content = withPrefixBytes(prefix, content);
    prefix = new Uint8Array(0);
  }
  let hash = hashes?.get(content);
  if (hash === undefined) {
    hash = createHash('sha256').update(content).digest('hex');
    hashes?.set(content, hash);
  }
  form = { content, prefix, hash };
  storedForms.set(op, form);
  return form;
}

function summaryOfForm(form: StoredForm): MessageSummary {
  return (form.summary ??= summarize(form.content));
}

function checkAclEntry(identifier: string, rights: string | null): Failure | null {
  // eslint-disable-next-line no-control-regex
  if (identifier.length === 0 || utf8.encode(identifier).length > aclIdentifierBytesMax || /[\u0000-\u0020\u007f]/.test(identifier)) {
    return fail('INVALID_ARGUMENT', 'ACL identifier empty, too long or with spaces or control characters');
  }
  if (rights !== null && [...rights].some((r) => !aclRights.includes(r))) return fail('INVALID_ARGUMENT', `ACL rights are letters of ${aclRights}`);
  return null;
}

/** Rights letters without repeats, in the RFC's order, so equal grants read the same. */
export function canonicalRights(rights: string): string {
  return [...aclRights].filter((r) => rights.includes(r)).join('');
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function uniqueSorted(uids: readonly number[]): number[] {
  return [...new Set(uids)].filter((u) => Number.isInteger(u) && u > 0).sort((a, b) => a - b);
}

function applyFlags(current: readonly string[], mode: TxOp & { op: 'store' }): string[] {
  if (mode.mode === 'set') return [...new Set(mode.flags)];
  if (mode.mode === 'add') return [...new Set([...current, ...mode.flags])];
  const remove = new Set(mode.flags);
  return current.filter((f) => !remove.has(f));
}

const sameFlags = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((f) => b.includes(f));

/** Plans and applies a transaction to `head`. On failure nothing in `head` changed. */
export function planTransaction(head: DatabaseState, request: TxRequest, context: PlanContext): Result<Plan> {
  const problem = check(head, request, context.hashes);
  if (problem !== null) return problem;
  const events: MailEvent[] = [];
  const results: OpResult[] = [];
  const touched = emptyTouched();
  const emit = (event: MailEvent): void => {
    apply(head, event, touched);
    events.push(event);
  };
  const mailboxId = request.mailboxId;
  const mailbox = (): MailboxState => head.mailboxes.get(mailboxId)!;
  const nextModseq = (): number => mailbox().modseqHighest + 1;
  const folderOf = (name: string) => {
    const m = mailbox();
    const folder = m.folders.get(m.folderIdsByName.get(normalizeFolderName(name))!);
    assert(folder !== undefined, `checked folder ${name} vanished`);
    return folder;
  };
  const kindState = (kind: string): number => mailbox().documents.get(kind)?.modseqHighest ?? 0;
  const newId = (prefix: string): string => prefix + hex(context.prng.bytes(12));
  const createFolder = (name: string, specialUse: string | null, given?: number, folderId?: number): number => {
    const m = mailbox();
    const uidValidity = given ?? Math.max(m.uidValidityLast + 1, Math.floor(context.clock.nowMs() / 1000)) >>> 0;
    emit({ type: EventType.FolderCreated, mailboxId, folderId: folderId ?? m.folderIdNext, name, uidValidity, specialUse, modseq: nextModseq() });
    return uidValidity;
  };
  const appendMessage = (folderName: string, hash: string, prefix: Uint8Array, sizeBytes: number, flags: readonly string[], internalDateMs: number, emailId: string, threadId: string, given?: number, modseq?: number): number => {
    const folder = folderOf(folderName);
    const uid = given ?? folder.uidNext;
    emit({ type: EventType.MessageAppended, mailboxId, folderId: folder.folderId, uid, modseq: modseq ?? nextModseq(), emailId, threadId, hash, sizeBytes, internalDateMs, flags: [...new Set(flags)], ...(prefix.length > 0 ? { prefix } : {}) });
    return uid;
  };

  for (const op of request.ops) {
    switch (op.op) {
      case 'createMailbox': {
        emit({
          type: EventType.MailboxCreated,
          mailboxId,
          address: op.address,
          quotaBytes: op.quotaBytes,
          createdAtMs: context.clock.nowMs(),
          ...(op.imported === true ? { imported: true } : {}),
          ...(op.public === true ? { public: true } : {}),
        });
        for (const [name, specialUse] of op.imported === true || op.public === true ? [] : defaultFolders) {
          createFolder(name, specialUse);
          emit({ type: EventType.SubscriptionSet, mailboxId, name, subscribed: true });
        }
        results.push({ op: 'createMailbox' });
        break;
      }
      case 'deleteMailbox':
        emit({ type: EventType.MailboxDeleted, mailboxId, address: op.address });
        results.push({ op: 'deleteMailbox' });
        break;
      case 'setQuota':
        emit({ type: EventType.QuotaSet, mailboxId, quotaBytes: op.quotaBytes });
        results.push({ op: 'setQuota' });
        break;
      case 'createFolder':
        results.push({ op: 'createFolder', uidValidity: createFolder(normalizeFolderName(op.name), op.specialUse ?? null, op.uidValidity, op.folderId) });
        break;
      case 'importFolder': {
        const folder = folderOf(op.folder);
        const expunged = op.expunged.map((e) => ({ modseq: e.modseq, uid: e.uid }));
        emit({ type: EventType.FolderImported, mailboxId, folderId: folder.folderId, uidNext: op.uidNext, modseqHighest: op.modseqHighest, expunged, expungedDroppedModseq: op.expungedDroppedModseq });
        results.push({ op: 'importFolder' });
        break;
      }
      case 'finishImport':
        emit({ type: EventType.ImportFinished, mailboxId, modseqHighest: op.modseqHighest });
        results.push({ op: 'finishImport' });
        break;
      case 'raiseUidNext': {
        const folder = folderOf(op.folder);
        emit({ type: EventType.UidNextRaised, mailboxId, folderId: folder.folderId, uidNext: op.uidNext, modseq: nextModseq() });
        results.push({ op: 'raiseUidNext' });
        break;
      }
      case 'renameFolder': {
        const from = normalizeFolderName(op.from);
        const to = normalizeFolderName(op.to);
        const m = mailbox();
        const affected = [...m.folderIdsByName.entries()].filter(([name]) => name === from || name.startsWith(from + folderSeparator));
        for (const [name, folderId] of affected) {
          const folder = m.folders.get(folderId)!;
          emit({ type: EventType.FolderRenamed, mailboxId, folderId, from: name, to: to + name.slice(from.length), uidValidity: folder.uidValidity, modseq: nextModseq() });
        }
        results.push({ op: 'renameFolder' });
        break;
      }
      case 'deleteFolder': {
        const folder = folderOf(op.name);
        emit({ type: EventType.FolderDeleted, mailboxId, folderId: folder.folderId, name: folder.name, messages: folder.messages.length, modseq: nextModseq() });
        results.push({ op: 'deleteFolder' });
        break;
      }
      case 'setAcl': {
        const folder = folderOf(op.folder);
        const rights = op.rights === null ? null : canonicalRights(op.rights);
        if (folder.acl[op.identifier] !== rights && !(rights === null && !(op.identifier in folder.acl))) {
          emit({ type: EventType.AclSet, mailboxId, folderId: folder.folderId, name: folder.name, identifier: op.identifier, rights, modseq: nextModseq() });
        }
        results.push({ op: 'setAcl' });
        break;
      }
      case 'setFolderAddress': {
        const folder = folderOf(op.folder);
        const address = op.address === null ? null : op.address.toLowerCase();
        if (folder.address !== address) emit({ type: EventType.FolderAddressSet, mailboxId, folderId: folder.folderId, name: folder.name, address, modseq: nextModseq() });
        results.push({ op: 'setFolderAddress' });
        break;
      }
      case 'subscribe':
        emit({ type: EventType.SubscriptionSet, mailboxId, name: normalizeFolderName(op.name), subscribed: op.subscribed });
        results.push({ op: 'subscribe' });
        break;
      case 'append': {
        const { content, prefix, hash } = storedForm(op, context.hashes);
        if (!head.contents.has(hash)) {
          let data = content;
          let compression: 'none' | 'deflate' = 'none';
          if (content.length >= compressBytesMin) {
            const deflated = deflateRawSync(content, { level: 1 });
            if (deflated.length <= content.length * compressRatioMax) {
              data = new Uint8Array(deflated.buffer, deflated.byteOffset, deflated.byteLength);
              compression = 'deflate';
            }
          }
          emit({ type: EventType.ContentStored, hash, sizeBytes: content.length, compression, data, summary: summaryOfForm(storedForm(op, context.hashes)) });
        }
        const emailId = op.emailId ?? newId('M');
        const threadId = op.threadId ?? 'T' + emailId.slice(1);
        const uid = appendMessage(op.folder, hash, prefix, prefix.length + content.length, op.flags ?? [], op.internalDateMs ?? context.clock.nowMs(), emailId, threadId, op.uid, op.modseq);
        results.push({ op: 'append', uidValidity: folderOf(op.folder).uidValidity, uid, emailId });
        break;
      }
      case 'store': {
        const folder = folderOf(op.folder);
        const items: Array<{ uid: number; emailId: string; flags: string[] }> = [];
        const modified: number[] = [];
        for (const uid of uniqueSorted(op.uids)) {
          const index = findMessageIndex(folder, uid);
          if (index < 0) continue;
          const message = folder.messages[index]!;
          if (op.unchangedSince !== undefined && message.modseq > op.unchangedSince) {
            modified.push(uid);
            continue;
          }
          const flags = applyFlags(message.flags, op);
          if (!sameFlags(flags, message.flags) || (op.modseq !== undefined && op.modseq !== message.modseq)) items.push({ uid, emailId: message.emailId, flags });
        }
        if (items.length > 0) emit({ type: EventType.FlagsSet, mailboxId, folderId: folder.folderId, modseq: op.modseq ?? nextModseq(), items });
        results.push({ op: 'store', changed: items.map((i) => i.uid), modified });
        break;
      }
      case 'expunge': {
        const folder = folderOf(op.folder);
        const items = uniqueSorted(op.uids)
          .map((uid) => folder.messages[findMessageIndex(folder, uid)])
          .filter((m) => m !== undefined)
          .map((m) => ({ uid: m!.uid, emailId: m!.emailId }));
        if (items.length > 0) emit({ type: EventType.MessagesExpunged, mailboxId, folderId: folder.folderId, modseq: nextModseq(), items });
        results.push({ op: 'expunge', uids: items.map((i) => i.uid) });
        break;
      }
      case 'setDocument': {
        // The value as its JSON reads back, so the log, replay and every reader hold the same.
        const json = documentJson(op.value);
        assert(json.ok, 'a checked document value is JSON');
        const value = JSON.parse(json.value) as unknown;
        const current = mailbox().documents.get(op.kind)?.documents.get(op.id);
        const destroy = (id: string, modseq: number): void => {
          const doc = mailbox().documents.get(op.kind)!.documents.get(id)!;
          emit({ type: EventType.DocumentDestroyed, mailboxId, kind: op.kind, id, destroyedModseq: doc.modseq, createdModseq: doc.createdModseq, modseq });
        };
        let modseq: number;
        if (op.modseq !== undefined) {
          // Importing: the source's version; one created anew under the same id replaces the old.
          if (current !== undefined && current.createdModseq !== op.createdModseq) destroy(op.id, op.modseq);
          const kept = mailbox().documents.get(op.kind)?.documents.get(op.id);
          if (kept === undefined || kept.modseq !== op.modseq || JSON.stringify(kept.value) !== JSON.stringify(value)) {
            emit({ type: EventType.DocumentSet, mailboxId, kind: op.kind, id: op.id, value, modseq: op.modseq, createdModseq: op.createdModseq! });
          }
          modseq = op.modseq;
        } else if (current !== undefined && JSON.stringify(current.value) === JSON.stringify(value)) {
          modseq = current.modseq; // unchanged: no event, no new state
        } else {
          modseq = mailbox().documentModseq + 1;
          emit({ type: EventType.DocumentSet, mailboxId, kind: op.kind, id: op.id, value, modseq, createdModseq: current?.createdModseq ?? modseq });
        }
        const evicted: string[] = [];
        const documents = mailbox().documents.get(op.kind)?.documents;
        while (op.keepNewest !== undefined && documents !== undefined && documents.size > op.keepNewest) {
          let oldest: { id: string; modseq: number } | null = null;
          for (const doc of documents.values()) if (doc.id !== op.id && (oldest === null || doc.modseq < oldest.modseq)) oldest = doc;
          if (oldest === null) break;
          destroy(oldest.id, op.modseq ?? mailbox().documentModseq + 1);
          evicted.push(oldest.id);
        }
        results.push({ op: 'setDocument', modseq, state: kindState(op.kind), ...(evicted.length > 0 ? { evicted } : {}) });
        break;
      }
      case 'destroyDocument': {
        const current = mailbox().documents.get(op.kind)?.documents.get(op.id);
        if (current === undefined) {
          results.push({ op: 'destroyDocument', modseq: 0, state: kindState(op.kind) });
          break;
        }
        const modseq = mailbox().documentModseq + 1;
        emit({ type: EventType.DocumentDestroyed, mailboxId, kind: op.kind, id: op.id, destroyedModseq: current.modseq, createdModseq: current.createdModseq, modseq });
        results.push({ op: 'destroyDocument', modseq, state: kindState(op.kind) });
        break;
      }
      case 'importDocuments': {
        const destroyed = op.destroyed.map((d) => ({ id: d.id, createdModseq: d.createdModseq, modseq: d.modseq }));
        emit({ type: EventType.DocumentsImported, mailboxId, kind: op.kind, modseqHighest: op.modseqHighest, destroyed, destroyedDroppedModseq: op.destroyedDroppedModseq });
        results.push({ op: 'importDocuments' });
        break;
      }
      case 'copy':
      case 'move': {
        const source = folderOf(op.folder);
        const originals = uniqueSorted(op.uids)
          .map((uid) => source.messages[findMessageIndex(source, uid)])
          .filter((m) => m !== undefined)
          .map((m) => ({ ...m! }));
        const uids = originals.map((m) => appendMessage(op.to, m.hash, messagePrefix(m), m.sizeBytes, m.flags, m.internalDateMs, m.emailId, m.threadId));
        if (op.op === 'move' && originals.length > 0) {
          emit({ type: EventType.MessagesExpunged, mailboxId, folderId: source.folderId, modseq: nextModseq(), items: originals.map((m) => ({ uid: m.uid, emailId: m.emailId })) });
        }
        results.push({ op: op.op, uidValidity: folderOf(op.to).uidValidity, sourceUids: originals.map((m) => m.uid), uids });
        break;
      }
    }
  }
  const m = head.mailboxes.get(mailboxId);
  return ok({ events, results, modseqHighest: m?.modseqHighest ?? 0 });
}

export type { CommitResult };
