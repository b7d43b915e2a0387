// One field's term dictionary with compact postings: for every term, the ascending ids of the
// documents holding it, delta + varint encoded (LEB128: 7 bits a byte, high bit = more), in a
// growable byte buffer per term. A common word's list of 90,000 documents takes about 90 KB
// instead of 720 KB of JS numbers, and is decoded straight into a bitmap.
//
// Lookups: a whole term through a Map; terms containing, starting or ending with a string
// through one lookup string holding every term ("\nterm\nterm\n") searched with the native
// indexOf (far faster than testing each term in a loop). Terms never contain "\n".
//
//   postings of one term:   [ id0 ][ id1 - id0 ][ id2 - id1 ] ...   each a varint, ids ascending
//
// Most terms of a mailbox occur in one document only (ids, tokens, adjacent-word pairs): a term
// holding one document keeps no buffer, only its id (`lastId`), until a second document comes.

const initialBytes = 8;
const none = new Uint8Array(0);

export class Dictionary {
  private readonly numbers = new Map<string, number>();
  readonly terms: string[] = [];
  private buffers: Uint8Array[] = [];
  private used: number[] = [];
  private lastId: number[] = [];
  private counts: number[] = [];
  private readonly starts: number[] = [];
  private lookup = '\n';
  chars = 0;
  postingBytes = 0;

  get size(): number {
    return this.terms.length;
  }

  /** Adds a document to a term's postings; ids must grow per term (documents are added in id order). */
  add(term: string, id: number): void {
    const t = this.numbers.get(term);
    if (t === undefined) this.newTerm(term, none, 0, id, 1);
    else this.addTo(t, term, id);
  }

  /** Like add, but a term that already holds this document (the last one added) is left as it is. */
  addOnce(term: string, id: number): void {
    const t = this.numbers.get(term);
    if (t === undefined) this.newTerm(term, none, 0, id, 1);
    else if (this.lastId[t] !== id) this.addTo(t, term, id);
  }

  private addTo(t: number, term: string, id: number): void {
    const last = this.lastId[t]!;
    if (id <= last) throw new Error(`postings out of order: ${id} after ${last} for ${term}`);
    let buffer = this.buffers[t]!;
    let at = this.used[t]!;
    if (at === 0) {
      // A term of one document so far: its buffer starts with that document's id.
      buffer = new Uint8Array(initialBytes);
      at = writeVarint(buffer, 0, last);
      this.buffers[t] = buffer;
    }
    if (at + 5 > buffer.length) {
      const grown = new Uint8Array(Math.max(initialBytes, buffer.length * 2));
      grown.set(buffer.subarray(0, at));
      this.buffers[t] = buffer = grown;
    }
    const before = at;
    at = writeVarint(buffer, at, id - last);
    this.postingBytes += at - before;
    this.used[t] = at;
    this.lastId[t] = id;
    this.counts[t] = this.counts[t]! + 1;
  }

  /**
   * Terms with postings already encoded (a loaded snapshot), on an empty dictionary; the
   * postings bytes are kept, not copied. The lookup string is joined once (appending each
   * term to it would build a rope of half a million pieces).
   */
  loadEncoded(terms: readonly string[], postings: readonly Uint8Array[], lastIds: readonly number[], counts: readonly number[]): void {
    if (this.terms.length !== 0) throw new Error('loadEncoded needs an empty dictionary');
    let at = 1;
    for (let t = 0; t < terms.length; t++) {
      const term = terms[t]!;
      this.numbers.set(term, t);
      this.starts.push(at);
      at += term.length + 1;
      this.chars += term.length;
      this.postingBytes += postings[t]!.length;
      this.used.push(postings[t]!.length);
      this.terms.push(term);
    }
    this.buffers = [...postings];
    this.lastId = [...lastIds];
    this.counts = [...counts];
    this.lookup = terms.length === 0 ? '\n' : `\n${terms.join('\n')}\n`;
  }

  private newTerm(term: string, buffer: Uint8Array, used: number, lastId: number, count: number): number {
    const t = this.terms.length;
    if (used === 0) this.postingBytes += varintBytes(lastId);
    this.numbers.set(term, t);
    this.terms.push(term);
    this.buffers.push(buffer);
    this.used.push(used);
    this.lastId.push(lastId);
    this.counts.push(count);
    this.starts.push(this.lookup.length);
    this.lookup += `${term}\n`;
    this.chars += term.length;
    return t;
  }

  /**
   * What the dictionary holds now, in O(1), immune to later adds (a snapshot encoded in slices
   * reads it while documents are added): its first `terms` terms (terms are only appended), each
   * with its documents below `documents`, the first id not given yet (ids only grow, so whatever
   * is added later is at or above it; postings are appended in place or copied into a grown
   * buffer with the same prefix, never rewritten).
   */
  view(documents: number): DictionaryView {
    return { terms: this.terms.length, documents };
  }

  /** The postings of term number `t` (< view.terms) as of `view`: a view of its bytes (or a fresh one-id buffer), count and last id. */
  postingsAt(view: DictionaryView, t: number): { postings: Uint8Array; count: number; lastId: number } {
    const lastId = this.lastId[t]!;
    const used = this.used[t]!;
    if (lastId < view.documents) {
      if (used > 0) return { postings: this.buffers[t]!.subarray(0, used), count: this.counts[t]!, lastId };
      const one = new Uint8Array(varintBytes(lastId));
      writeVarint(one, 0, lastId);
      return { postings: one, count: 1, lastId };
    }
    // Documents were added to it since (it held one before, so it has a buffer now): the prefix below the view's documents.
    // Not a query's loop (a snapshot racing adds): decodePostings serves, no third copy of the varint loop.
    const ids = decodePostings(this.buffers[t]!.subarray(0, used));
    let count = 0;
    let end = 0;
    while (count < ids.length && ids[count]! < view.documents) {
      end += varintBytes(count === 0 ? ids[0]! : ids[count]! - ids[count - 1]!);
      count += 1;
    }
    return { postings: this.buffers[t]!.subarray(0, end), count, lastId: count === 0 ? -1 : ids[count - 1]! };
  }

  /** The number of a term this dictionary holds. */
  numberOf(term: string): number {
    const t = this.numbers.get(term);
    if (t === undefined) throw new Error(`no term ${term}`);
    return t;
  }

  /** Sets bitmap[id] = 1 for every document of the term, if it exists. */
  markTerm(term: string, bitmap: Uint8Array): void {
    const t = this.numbers.get(term);
    if (t !== undefined) this.markTermNumber(t, bitmap);
  }

  private markTermNumber(t: number, bitmap: Uint8Array): void {
    const used = this.used[t]!;
    if (used === 0) bitmap[this.lastId[t]!] = 1;
    else markPostings(this.buffers[t]!, used, bitmap);
  }

  /** Marks the documents of every term containing (starting with, ending with) `run`. */
  mark(run: string, mode: 'includes' | 'prefix' | 'suffix', bitmap: Uint8Array): void {
    this.markMatching(mode === 'prefix' ? `\n${run}` : mode === 'suffix' ? `${run}\n` : run, bitmap);
  }

  /** Marks the documents of every term matching `pattern` in the lookup string ("\n" = a term's edge). */
  markMatching(pattern: string, bitmap: Uint8Array): void {
    const edge = pattern.startsWith('\n') ? 1 : 0;
    const { starts, lookup } = this;
    let from = 0;
    for (;;) {
      const at = lookup.indexOf(pattern, from);
      if (at < 0) return;
      const position = at + edge;
      let lo = 0;
      let hi = starts.length; // the last term starting at or before `position`
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! <= position) lo = mid;
        else hi = mid;
      }
      this.markTermNumber(lo, bitmap);
      from = lo + 1 < starts.length ? starts[lo + 1]! - edge : lookup.length;
    }
  }
}

/** A dictionary at one moment (`Dictionary.view`): its first `terms` terms, with their documents below `documents`. */
export interface DictionaryView {
  readonly terms: number;
  readonly documents: number;
}

/** Writes a varint at `at`; returns where it ends. */
function writeVarint(buffer: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    buffer[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buffer[at++] = value;
  return at;
}

function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value >>>= 7;
    bytes += 1;
  }
  return bytes;
}

/**
 * Decodes delta + varint postings, setting bitmap[id] = 1 for each (the query's inner loop).
 * The varint loop is written out here and in decodePostings on purpose: one shared
 * reader with a module-level cursor made this loop about 1.4x slower (24.6-32.7 against
 * 17.6-19.8 ms per 2 million ids, a scratch microbenchmark, 2026-11-29).
 */
export function markPostings(buffer: Uint8Array, length: number, bitmap: Uint8Array): void {
  let id = 0;
  let i = 0;
  let first = true;
  while (i < length) {
    let byte = buffer[i++]!;
    let delta = byte & 0x7f;
    let shift = 7;
    while (byte & 0x80) {
      byte = buffer[i++]!;
      delta |= (byte & 0x7f) << shift;
      shift += 7;
    }
    id = first ? delta : id + delta;
    first = false;
    bitmap[id] = 1;
  }
}

/** Decodes postings into ids. */
export function decodePostings(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let id = 0;
  let i = 0;
  while (i < bytes.length) {
    let byte = bytes[i++]!;
    let delta = byte & 0x7f;
    let shift = 7;
    while (byte & 0x80) {
      byte = bytes[i++]!;
      delta |= (byte & 0x7f) << shift;
      shift += 7;
    }
    id = out.length === 0 ? delta : id + delta;
    out.push(id);
  }
  return out;
}
