// The selected mailbox as one session sees it: the UIDs in sequence-number order, each
// message's flags and modseq as last told to the client, and the expunges the session knows of
// but has not been allowed to announce yet. Sequence numbers are this view's, so they stay
// correct across other sessions' expunges until the session may send EXPUNGE/VANISHED
// (RFC 9051 §7.5.1: never during FETCH, STORE or SEARCH).
//
// The messages are held in columns (one array per field, row = sequence number - 1), each
// distinct flag list once (`flagLists`, a row holds its index), built straight from the
// listing's columns (listMessageColumns): no object per message, so a 100,000-message folder
// costs a session a few MB and its SELECT, FETCH 1:* (FLAGS) and flag SEARCH walk arrays.
// `infos` still answers one message as a MessageInfo (made on demand) for the commands that
// look at a few.

import type { MailboxApi, MessageColumns, MessageInfo } from '../../engine/api.js';
import type { SeqRange, SequenceSet } from './wire/types.js';

/** A distinct flag list of the view, with what FETCH and SEARCH want of it computed once. */
interface FlagList {
  readonly flags: readonly string[];
  /** The flags lowercased (flag names compare case-insensitively). */
  readonly lower: ReadonlySet<string>;
  /** `FLAGS (...)` as sent. */
  readonly bytes: Buffer;
}

/** Flag lists kept beyond twice the messages before the unused ones are dropped. */
const flagListsSlack = 64;

/** The FETCH items `fetchFlagLines` formats from the view alone. */
export type FlagLineItem = 'UID' | 'FLAGS' | 'MODSEQ';

export class SelectedMailbox {
  /** UIDs in ascending order: index + 1 is the sequence number (the row of every column). */
  uids: number[] = [];
  private modseqs: number[] = [];
  private sizes: number[] = [];
  private dates: number[] = [];
  /** -1: no prefix. */
  private prefixes: number[] = [];
  /** Index into flagLists. */
  private flagRows: number[] = [];
  private flagLists: FlagList[] = [];
  private readonly flagListNumbers = new Map<string, number>();
  /**
   * Email and thread ids by row. A full listing brings them joined in one string each, split
   * only when a message's ids are first asked for (FETCH EMAILID, a MessageInfo): until then
   * `idsJoined` holds the listing's rows and `emailIds`/`threadIds` the rows appended after it.
   */
  private idsJoined: { readonly emailIds: string; readonly threadIds: string; readonly count: number } | null = null;
  private emailIds: string[] = [];
  private threadIds: string[] = [];
  /** One message as a MessageInfo, made from the columns (changes go through set). */
  readonly infos = {
    get: (uid: number): MessageInfo | undefined => {
      const row = this.seqOf(uid) - 1;
      return row < 0 ? undefined : this.infoAt(row);
    },
    set: (uid: number, info: MessageInfo): void => {
      const row = this.seqOf(uid) - 1;
      if (row >= 0) this.setRow(row, info);
    },
  };
  /** Expunged in storage, still numbered here until announced. */
  readonly pendingExpunge = new Set<number>();
  /** RFC 5182 SEARCHRES `$`, as UIDs. */
  saved: number[] = [];
  /**
   * A folder of another mailbox (a public folder, another user's shared folder): where it is and
   * what this user may do in it (RFC 4314 rights). null: the user's own folder, every right.
   */
  shared: { readonly api: MailboxApi; readonly mailboxId: string; readonly rights: string } | null = null;
  constructor(
    public name: string,
    readonly folderId: number,
    readonly uidValidity: number,
    readonly readOnly: boolean,
    /** The modseq up to which this view is complete. */
    public modseqHighest: number,
    public uidNext: number,
  ) {}

  get exists(): number {
    return this.uids.length;
  }

  /** Loads a full listing's columns (SELECT), rows in UID order. */
  loadColumns(columns: MessageColumns): void {
    this.clear();
    const { count } = columns;
    let order: number[] | null = null;
    for (let i = 1; i < count; i++) {
      if (columns.uids[i]! <= columns.uids[i - 1]!) {
        order = Array.from({ length: count }, (_, k) => k).sort((a, b) => columns.uids[a]! - columns.uids[b]!);
        break;
      }
    }
    const numbers = columns.flagLists.map((flags) => this.flagListNumber(flags));
    const pick = <T>(at: (i: number) => T): T[] => {
      const out = new Array<T>(count);
      for (let r = 0; r < count; r++) out[r] = at(order === null ? r : order[r]!);
      return out;
    };
    this.uids = pick((i) => columns.uids[i]!);
    this.modseqs = pick((i) => columns.modseqs[i]!);
    this.sizes = pick((i) => columns.sizes[i]!);
    this.dates = pick((i) => columns.dates[i]!);
    this.prefixes = pick((i) => columns.prefixBytes[i]!);
    this.flagRows = pick((i) => numbers[columns.flagIndex[i]!]!);
    if (order === null && count > 0) this.idsJoined = { emailIds: columns.emailIds, threadIds: columns.threadIds, count };
    else if (count > 0) {
      const emailIds = columns.emailIds.split('\n');
      const threadIds = columns.threadIds.split('\n');
      this.emailIds = pick((i) => emailIds[i]!);
      this.threadIds = pick((i) => threadIds[i]!);
    }
  }

  /** Loads the messages of a full listing. */
  load(messages: readonly MessageInfo[]): void {
    this.clear();
    for (const m of [...messages].sort((a, b) => a.uid - b.uid)) this.push(m);
  }

  private clear(): void {
    this.uids = [];
    this.modseqs = [];
    this.sizes = [];
    this.dates = [];
    this.prefixes = [];
    this.flagRows = [];
    this.flagLists = [];
    this.flagListNumbers.clear();
    this.idsJoined = null;
    this.emailIds = [];
    this.threadIds = [];
  }

  private push(info: MessageInfo): void {
    this.uids.push(info.uid);
    this.modseqs.push(info.modseq);
    this.sizes.push(info.sizeBytes);
    this.dates.push(info.internalDateMs);
    this.prefixes.push(info.prefixBytes ?? -1);
    this.flagRows.push(this.flagListNumber(info.flags));
    this.emailIds.push(info.emailId);
    this.threadIds.push(info.threadId);
  }

  private setRow(row: number, info: MessageInfo): void {
    this.modseqs[row] = info.modseq;
    this.flagRows[row] = this.flagListNumber(info.flags);
    // Lists no message has any more are kept until they outnumber the messages: then renumbered.
    if (this.flagLists.length > 2 * this.uids.length + flagListsSlack) this.compactFlagLists();
  }

  private compactFlagLists(): void {
    const lists = this.flagLists;
    this.flagLists = [];
    this.flagListNumbers.clear();
    const renumbered = new Map<number, number>();
    for (let row = 0; row < this.flagRows.length; row++) {
      const old = this.flagRows[row]!;
      let n = renumbered.get(old);
      if (n === undefined) {
        n = this.flagListNumber(lists[old]!.flags);
        renumbered.set(old, n);
      }
      this.flagRows[row] = n;
    }
  }

  /** The number of a flag list, interned on first sight (flag order is kept: a reordered list is its own). */
  private flagListNumber(flags: readonly string[]): number {
    const key = flags.length === 0 ? '' : flags.length === 1 ? flags[0]! : flags.join('\0');
    let n = this.flagListNumbers.get(key);
    if (n === undefined) {
      n = this.flagLists.length;
      this.flagListNumbers.set(key, n);
      const frozen = Object.freeze([...flags]);
      this.flagLists.push({ flags: frozen, lower: new Set(frozen.map((f) => f.toLowerCase())), bytes: Buffer.from(`FLAGS (${frozen.join(' ')})`, 'utf8') });
    }
    return n;
  }

  /**
   * A message as a MessageInfo, by row (sequence number - 1). Its ids are read when asked (by
   * UID, so a row removed meanwhile reads ''): most callers want only flags and modseq, and the
   * first id asked for splits the listing's joined ids.
   */
  infoAt(row: number): MessageInfo {
    const view = this;
    const uid = this.uids[row]!;
    const prefix = this.prefixes[row]!;
    const info = {
      uid,
      modseq: this.modseqs[row]!,
      flags: this.flagLists[this.flagRows[row]!]!.flags,
      sizeBytes: this.sizes[row]!,
      internalDateMs: this.dates[row]!,
      get emailId(): string {
        const at = view.seqOf(uid) - 1;
        return at < 0 ? '' : view.emailIdAt(at);
      },
      get threadId(): string {
        const at = view.seqOf(uid) - 1;
        return at < 0 ? '' : view.threadIdAt(at);
      },
    };
    return prefix < 0 ? info : Object.assign(info, { prefixBytes: prefix });
  }

  /** Whether the message at `row` has `flag` (any case). */
  hasFlagAt(row: number, flag: string): boolean {
    return this.flagLists[this.flagRows[row]!]!.lower.has(flag.toLowerCase());
  }

  /**
   * For each distinct flag list (by number), whether it holds `flag`: a flag test over every
   * row is then one array read per row (`flagListAt`).
   */
  flagListsHolding(flag: string): Uint8Array {
    const lower = flag.toLowerCase();
    return Uint8Array.from(this.flagLists, (l) => (l.lower.has(lower) ? 1 : 0));
  }

  /** The number of the flag list at `row` (an index into flagListsHolding's answer). */
  flagListAt(row: number): number {
    return this.flagRows[row]!;
  }

  modseqAt(row: number): number {
    return this.modseqs[row]!;
  }

  sizeAt(row: number): number {
    return this.sizes[row]!;
  }

  internalDateAt(row: number): number {
    return this.dates[row]!;
  }

  emailIdAt(row: number): string {
    this.splitIds();
    return this.emailIds[row]!;
  }

  threadIdAt(row: number): string {
    this.splitIds();
    return this.threadIds[row]!;
  }

  /** The distinct flag lists some message of the view has (SELECT's FLAGS). */
  flagsInUse(): Array<readonly string[]> {
    const used = new Uint8Array(this.flagLists.length);
    for (const n of this.flagRows) used[n] = 1;
    return this.flagLists.filter((_, n) => used[n] === 1).map((l) => l.flags);
  }

  private splitIds(): void {
    const joined = this.idsJoined;
    if (joined === null) return;
    this.idsJoined = null;
    this.emailIds = [...joined.emailIds.split('\n'), ...this.emailIds];
    this.threadIds = [...joined.threadIds.split('\n'), ...this.threadIds];
  }

  /** Those of `uids` (ascending) whose modseq is above `since` (CHANGEDSINCE). */
  changedSince(uids: readonly number[], since: number): number[] {
    const out: number[] = [];
    let row = 0;
    for (const uid of uids) {
      if (this.uids[row] !== uid) row = this.seqOf(uid) - 1;
      if (row < 0) {
        row = 0;
        continue;
      }
      if (this.modseqs[row]! > since) out.push(uid);
      row++;
    }
    return out;
  }

  /**
   * `* n FETCH (...)` for each UID (ascending, in the view) with the items in order, from the
   * view alone, into one buffer: FETCH 1:* (FLAGS) of a large folder without a string or an
   * object per message.
   */
  fetchFlagLines(uids: readonly number[], items: readonly FlagLineItem[]): Buffer {
    const codes = items.map((item) => (item === 'UID' ? 0 : item === 'FLAGS' ? 1 : 2));
    let out = Buffer.allocUnsafe(Math.max(256, uids.length * 48));
    let at = 0;
    let row = 0;
    for (let i = 0; i < uids.length; i++) {
      const uid = uids[i]!;
      // Ascending UIDs, usually consecutive rows: a binary search only where they jump.
      if (this.uids[row] !== uid) row = this.seqOf(uid) - 1;
      if (row < 0) {
        row = 0;
        continue;
      }
      const list = this.flagLists[this.flagRows[row]!]!.bytes;
      if (out.length - at < lineBytesMax + list.length) {
        const bigger = Buffer.allocUnsafe(out.length * 2 + list.length);
        out.copy(bigger, 0, 0, at);
        out = bigger;
      }
      at = put(out, at, lineStart);
      at = putNumber(out, at, row + 1);
      at = put(out, at, fetchOpen);
      for (let k = 0; k < codes.length; k++) {
        if (k > 0) out[at++] = 0x20;
        const code = codes[k]!;
        if (code === 1) at = put(out, at, list);
        else if (code === 0) at = putNumber(out, put(out, at, uidItem), uid);
        else at = put(out, putNumber(out, put(out, at, modseqItem), this.modseqs[row]!), closeParen);
      }
      at = put(out, at, lineEnd);
      row++;
    }
    return out.subarray(0, at);
  }

  /** Sequence number of a UID, or 0 when the view does not hold it. */
  seqOf(uid: number): number {
    let lo = 0;
    let hi = this.uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.uids[mid]!;
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /** Adds a UID above every UID held; returns its sequence number. */
  append(info: MessageInfo): number {
    const last = this.uids[this.uids.length - 1];
    if (last !== undefined && info.uid <= last) {
      // Not above: a message the view already knows (e.g. reported twice); just refresh it.
      this.infos.set(info.uid, info);
      return this.seqOf(info.uid);
    }
    this.push(info);
    return this.uids.length;
  }

  /**
   * Removes UIDs at once; returns the sequence numbers they had, highest first (the order in
   * which EXPUNGE responses need no renumbering). One pass over the view, however many go.
   */
  removeAll(uids: Iterable<number>): number[] {
    const gone = new Set<number>();
    const seqs: number[] = [];
    for (const uid of uids) {
      const seq = this.seqOf(uid);
      if (seq === 0 || gone.has(uid)) continue;
      gone.add(uid);
      seqs.push(seq);
      this.pendingExpunge.delete(uid);
    }
    if (gone.size > 0) {
      this.splitIds();
      const keep = this.uids.map((uid) => !gone.has(uid));
      const kept = <T>(column: T[]): T[] => column.filter((_, row) => keep[row]);
      this.uids = kept(this.uids);
      this.modseqs = kept(this.modseqs);
      this.sizes = kept(this.sizes);
      this.dates = kept(this.dates);
      this.prefixes = kept(this.prefixes);
      this.flagRows = kept(this.flagRows);
      this.emailIds = kept(this.emailIds);
      this.threadIds = kept(this.threadIds);
    }
    return seqs.sort((a, b) => b - a);
  }

  /**
   * The UIDs a sequence set names, ascending, without duplicates. Sequence numbers beyond the
   * view are an error (null); UIDs that do not exist are simply not matched (RFC 9051 §6.4.8).
   */
  resolve(set: SequenceSet, byUid: boolean): number[] | null {
    if (set.kind === 'saved') {
      return byUid ? [...this.saved] : this.saved.filter((uid) => this.seqOf(uid) !== 0);
    }
    if (set.ranges.length === 1) {
      // One range (1:*, a:b, n): a slice of the view, already ascending and unique.
      const range = set.ranges[0]!;
      const max = byUid ? (this.uids[this.uids.length - 1] ?? 0) : this.uids.length;
      let [a, b] = bounds(range, max);
      if (a > b) [a, b] = [b, a];
      if (byUid) return this.uids.slice(lowerBound(this.uids, a), lowerBound(this.uids, b + 1));
      if (max === 0 && (range.start === '*' || range.end === '*')) return [];
      if (a < 1 || b > max) return null;
      return this.uids.slice(a - 1, b);
    }
    const out = new Set<number>();
    if (byUid) {
      const max = this.uids[this.uids.length - 1] ?? 0;
      for (const range of set.ranges) {
        let [a, b] = bounds(range, max);
        if (a > b) [a, b] = [b, a];
        for (let i = lowerBound(this.uids, a); i < this.uids.length && this.uids[i]! <= b; i++) out.add(this.uids[i]!);
      }
    } else {
      const max = this.uids.length;
      for (const range of set.ranges) {
        let [a, b] = bounds(range, max);
        if (a > b) [a, b] = [b, a];
        if (max === 0 && (range.start === '*' || range.end === '*')) continue;
        if (a < 1 || b > max) return null;
        for (let s = a; s <= b; s++) out.add(this.uids[s - 1]!);
      }
    }
    return [...out].sort((x, y) => x - y);
  }
}

function bounds(range: SeqRange, max: number): [number, number] {
  return [range.start === '*' ? max : range.start, range.end === '*' ? max : range.end];
}

function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// fetchFlagLines' pieces, written byte by byte (a native call per piece costs more than the copy).
const lineStart = Buffer.from('* ');
const fetchOpen = Buffer.from(' FETCH (');
const uidItem = Buffer.from('UID ');
const modseqItem = Buffer.from('MODSEQ (');
const closeParen = Buffer.from(')');
const lineEnd = Buffer.from(')\r\n');
/** A line's bytes without its flag list: the pieces above and three numbers of at most 16 digits. */
const lineBytesMax = 80;

function put(out: Buffer, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) out[at + i] = bytes[i]!;
  return at + bytes.length;
}

/** A non-negative integer in decimal ASCII (small integer arithmetic below 2^31, the usual case). */
function putNumber(out: Buffer, at: number, value: number): number {
  if (value < 10) {
    out[at] = 0x30 + value;
    return at + 1;
  }
  if (value >= 0x80000000) {
    const text = String(value);
    return at + out.write(text, at, 'latin1');
  }
  let digits = 1;
  for (let x = value; x >= 10; x = (x / 10) | 0) digits++;
  let x = value;
  for (let p = at + digits - 1; p >= at; p--) {
    const q = (x / 10) | 0;
    out[p] = 0x30 + x - q * 10;
    x = q;
  }
  return at + digits;
}
