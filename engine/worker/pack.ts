// A folder listing's messages in columns, the form listMessages crosses the IPC hop in: a typed
// array per number field, each distinct flag list once with an index per message, the ids
// joined into one string. Structured clone of one object per message (7 fields, a flags array,
// two strings) cost more than the listing itself on both sides of the hop: a SELECT of 200
// messages about 0.3 ms of worker and 0.7 ms of front-end time, 100,000 messages seconds.

import type { ColumnListing, FolderListing, MessageColumns, MessageInfo } from '../api.js';

/** What packMessages reads of a message: the API's MessageInfo, or the state's MessageMeta (its prefix, latin1, one character a byte). */
export type PackableMessage = MessageInfo & { readonly prefix?: string };

/** The columns (engine/api.ts MessageColumns: front ends may hold them). */
export type PackedMessages = MessageColumns;

export function packMessages(messages: readonly PackableMessage[]): PackedMessages {
  const count = messages.length;
  const uids = new Float64Array(count);
  const modseqs = new Float64Array(count);
  const sizes = new Float64Array(count);
  const dates = new Float64Array(count);
  const prefixBytes = new Float64Array(count);
  const flagIndex = new Uint32Array(count);
  const flagLists: Array<readonly string[]> = [];
  const listNumbers = new Map<string, number>();
  const emailIds: string[] = new Array<string>(count);
  const threadIds: string[] = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const m = messages[i]!;
    uids[i] = m.uid;
    modseqs[i] = m.modseq;
    sizes[i] = m.sizeBytes;
    dates[i] = m.internalDateMs;
    prefixBytes[i] = m.prefixBytes ?? (m.prefix === undefined ? -1 : m.prefix.length);
    flagIndex[i] = flagListNumber(m.flags, flagLists, listNumbers);
    emailIds[i] = m.emailId;
    threadIds[i] = m.threadId;
  }
  return { count, uids, modseqs, sizes, dates, prefixBytes, flagLists, flagIndex, emailIds: emailIds.join('\n'), threadIds: threadIds.join('\n') };
}

/** The messages again, one MessageInfo each; messages with the same flags share one frozen flags array. */
export function unpackMessages(packed: PackedMessages): MessageInfo[] {
  const { count } = packed;
  const lists = packed.flagLists.map((flags) => Object.freeze([...flags]));
  const emailIds = count === 0 ? [] : packed.emailIds.split('\n');
  const threadIds = count === 0 ? [] : packed.threadIds.split('\n');
  const out = new Array<MessageInfo>(count);
  for (let i = 0; i < count; i++) {
    const prefix = packed.prefixBytes[i]!;
    const info: MessageInfo = {
      uid: packed.uids[i]!,
      modseq: packed.modseqs[i]!,
      flags: lists[packed.flagIndex[i]!]!,
      sizeBytes: packed.sizes[i]!,
      internalDateMs: packed.dates[i]!,
      emailId: emailIds[i]!,
      threadId: threadIds[i]!,
    };
    out[i] = prefix < 0 ? info : { ...info, prefixBytes: prefix };
  }
  return out;
}

/** A listing as the worker sends it: FolderListing with its messages packed. */
export type PackedListing = ColumnListing;

export function unpackListing(packed: PackedListing): FolderListing {
  return { ...packed, messages: unpackMessages(packed.messages) };
}

/** Folders with fewer messages are packed anew each time (cheap); larger ones are kept. */
export const packedListingMessagesMin = 5_000;
/** Packed listings kept (the most recently listed); a 100,000-message folder's is about 8 MB. */
export const packedListingsMax = 8;

interface KeptListing {
  readonly packed: PackedMessages;
  /** The highest modseq among the packed messages. */
  readonly modseqMax: number;
  readonly listNumbers: ReadonlyMap<string, number>;
}

/**
 * A large folder's full listing, packed once and kept: the next listing of the folder scans
 * only the messages' modseqs and patches the rows that changed (a copy: a listing already
 * handed out never changes), instead of packing every message again. Kept by the folder's
 * message array, which the state model replaces on expunge and only appends to otherwise
 * (a different length: packed anew); a change to a message's flags gives it a modseq above
 * every modseq the folder had, so rows at or below modseqMax are as packed. Not for a mailbox
 * being imported (a mailbox move), whose events carry the source's modseqs. At most
 * packedListingsMax are kept, and none past the life of its folder's message array.
 */
export class PackedListings {
  /** By message array: an entry goes with its array (a deleted or expunged-from folder's). */
  private readonly kept = new WeakMap<readonly PackableMessage[], KeptListing>();
  /** The arrays of the entries kept, least recently listed first: past packedListingsMax the first is dropped. */
  private recent: Array<WeakRef<readonly PackableMessage[]>> = [];

  pack(messages: readonly PackableMessage[]): PackedMessages {
    if (messages.length < packedListingMessagesMin) return packMessages(messages);
    const before = this.kept.get(messages);
    const now = before !== undefined && before.packed.count === messages.length ? patched(before, messages) : packedAnew(messages);
    this.kept.set(messages, now);
    this.recent = this.recent.filter((ref) => ref.deref() !== messages);
    this.recent.push(new WeakRef(messages));
    while (this.recent.length > packedListingsMax) {
      const oldest = this.recent.shift()!.deref();
      if (oldest !== undefined) this.kept.delete(oldest);
    }
    return now.packed;
  }
}

/** The number of a distinct flag list, added to `flagLists` on first sight (order kept: a reordered list is its own). */
function flagListNumber(flags: readonly string[], flagLists: Array<readonly string[]>, listNumbers: Map<string, number>): number {
  const key = flagKey(flags);
  let n = listNumbers.get(key);
  if (n === undefined) {
    n = flagLists.length;
    listNumbers.set(key, n);
    flagLists.push([...flags]);
  }
  return n;
}

function flagKey(flags: readonly string[]): string {
  return flags.length === 0 ? '' : flags.length === 1 ? flags[0]! : flags.join('\0');
}

function packedAnew(messages: readonly PackableMessage[]): KeptListing {
  const packed = packMessages(messages);
  let modseqMax = 0;
  for (let i = 0; i < packed.count; i++) modseqMax = Math.max(modseqMax, packed.modseqs[i]!);
  return { packed, modseqMax, listNumbers: new Map(packed.flagLists.map((flags, n) => [flagKey(flags), n])) };
}

/** The kept listing with the rows whose modseq rose since rewritten; itself when none did. */
function patched(before: KeptListing, messages: readonly PackableMessage[]): KeptListing {
  let changed: number[] | null = null;
  for (let i = 0; i < messages.length; i++) if (messages[i]!.modseq > before.modseqMax) (changed ??= []).push(i);
  if (changed === null) return before;
  const modseqs = before.packed.modseqs.slice();
  const flagIndex = before.packed.flagIndex.slice();
  const flagLists = [...before.packed.flagLists];
  const listNumbers = new Map(before.listNumbers);
  let modseqMax = before.modseqMax;
  for (const i of changed) {
    const m = messages[i]!;
    modseqs[i] = m.modseq;
    modseqMax = Math.max(modseqMax, m.modseq);
    flagIndex[i] = flagListNumber(m.flags, flagLists, listNumbers);
  }
  return { packed: { ...before.packed, modseqs, flagIndex, flagLists }, modseqMax, listNumbers };
}
