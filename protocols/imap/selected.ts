// The selected mailbox as one session sees it: the UIDs in sequence-number order, each
// message's flags and modseq as last told to the client, and the expunges the session knows of
// but has not been allowed to announce yet. Sequence numbers are this view's, so they stay
// correct across other sessions' expunges until the session may send EXPUNGE/VANISHED
// (RFC 9051 §7.5.1: never during FETCH, STORE or SEARCH).

import type { MailboxApi, MessageContent, MessageInfo } from '../../engine/api.js';
import { contentCacheEntriesMax } from './constants.js';
import { envelopeOf } from './convert.js';
import { ResponseWriter, writeEnvelope, type EncodeOptions } from './wire/encoder.js';
import type { SeqRange, SequenceSet } from './wire/types.js';

export class SelectedMailbox {
  /** UIDs in ascending order: index + 1 is the sequence number. */
  uids: number[] = [];
  readonly infos = new Map<number, MessageInfo>();
  /** Expunged in storage, still numbered here until announced. */
  readonly pendingExpunge = new Set<number>();
  /** RFC 5182 SEARCHRES `$`, as UIDs. */
  saved: number[] = [];
  /**
   * A folder of another mailbox (a public folder, another user's shared folder): where it is and
   * what this user may do in it (RFC 4314 rights). null: the user's own folder, every right.
   */
  shared: { readonly api: MailboxApi; readonly mailboxId: string; readonly rights: string } | null = null;
  /**
   * MIME summaries already fetched (a UID's content never changes under one UIDVALIDITY), least
   * recently used first, so repeated ENVELOPE/BODYSTRUCTURE fetches skip the database round trip.
   */
  private readonly contents = new Map<number, MessageContent>();
  /** Messages changed while the session could not say so (their FETCH is still owed). */
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

  /** Loads the messages of a full listing (SELECT). */
  load(messages: readonly MessageInfo[]): void {
    this.uids = messages.map((m) => m.uid).sort((a, b) => a - b);
    this.infos.clear();
    this.contents.clear();
    this.envelopes.clear();
    for (const m of messages) this.infos.set(m.uid, m);
  }

  /** A message's cached summary, marked as just used. */
  content(uid: number): MessageContent | undefined {
    const got = this.contents.get(uid);
    if (got !== undefined) {
      this.contents.delete(uid);
      this.contents.set(uid, got);
    }
    return got;
  }

  /** Keeps a fetched summary, dropping the least recently used past contentCacheEntriesMax. */
  remember(content: MessageContent): void {
    this.contents.delete(content.uid);
    if (this.contents.size >= contentCacheEntriesMax) {
      const oldest = this.contents.keys().next().value!;
      this.contents.delete(oldest);
      this.envelopes.delete(oldest);
    }
    this.contents.set(content.uid, content);
  }

  /**
   * A message's ENVELOPE as sent (it never changes under one UIDVALIDITY), encoded once per
   * summary kept; the encoding depends on UTF8=ACCEPT, so it is kept with the option it used.
   */
  envelopeBytes(content: MessageContent, options: EncodeOptions): Buffer {
    const kept = this.envelopes.get(content.uid);
    if (kept !== undefined && kept.utf8 === options.utf8 && kept.content === content) return kept.bytes;
    const w = new ResponseWriter(options);
    writeEnvelope(w, envelopeOf(content.summary.envelope));
    const bytes = w.toBuffer();
    if (this.contents.get(content.uid) === content) this.envelopes.set(content.uid, { content, utf8: options.utf8, bytes });
    return bytes;
  }
  private readonly envelopes = new Map<number, { readonly content: MessageContent; readonly utf8: boolean; readonly bytes: Buffer }>();

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
    this.uids.push(info.uid);
    this.infos.set(info.uid, info);
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
      this.infos.delete(uid);
      this.contents.delete(uid);
      this.envelopes.delete(uid);
      this.pendingExpunge.delete(uid);
    }
    if (gone.size > 0) this.uids = this.uids.filter((uid) => !gone.has(uid));
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
