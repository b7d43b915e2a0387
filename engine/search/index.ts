// The content index of one database copy: for each field (all headers, body, and the subject,
// from, to, cc, bcc headers on their own) a dictionary from word run to the documents (content
// hashes) that hold it. Documents are contents, not messages: copies and moves share them.
//
// Exactness. A run is a maximal sequence of letters, digits and marks in the folded text
// (text.ts); the class of a character does not depend on its neighbours. So a folded query
// that is one run and nothing else occurs in a text exactly when it is a substring of one of
// the text's runs; and a query of two runs with the separator between them ("budget report",
// "foo.bar") occurs exactly when it is a substring of a "pair" — two adjacent runs of the text
// with their separator, also indexed. Those are answered by the index alone. Any other query
// (three runs or more, or separators at its ends) has a necessary condition the index checks —
// each two adjacent query runs form a pair of the text, whole runs where something precedes or
// follows them — and the documents passing it are verified by the brute-force matcher.
// Evaluation is three-valued (true, false, unknown) so AND/OR/NOT stay exact.

import { fold, allHeadersText, headerText, matches, type SearchText, wordChar } from './text.js';

const runPattern = /[\p{L}\p{N}\p{M}]+/gu;
/** The same pattern, for addField's exec loop alone (it moves lastIndex). */
const runScan = /[\p{L}\p{N}\p{M}]+/gu;
// eslint-disable-next-line no-control-regex
const nonAsciiChar = /[^\x00-\x7f]/;
import type { ContentCriterion } from './types.js';
import { Dictionary, decodePostings, type DictionaryView } from './postings.js';

export type Field = 'h' | 'b' | 'subject' | 'from' | 'to' | 'cc' | 'bcc';
const ownFields = new Set<string>(['subject', 'from', 'to', 'cc', 'bcc']);

/** true, false, or null (unknown: verify with the brute-force matcher). */
export type Maybe = boolean | null;

/** Per-message answers of `evaluate`: no, yes, or unknown (verify with the brute-force matcher). */
export const answerNo = 0;
export const answerYes = 1;
export const answerUnknown = 2;

interface LeafAnswer {
  readonly exact: boolean;
  /** Documents that match (exact) or may match (not exact), as a bitmap over document ids. */
  readonly docs: Uint8Array | 'all';
}

export const fields: readonly Field[] = ['h', 'b', 'subject', 'from', 'to', 'cc', 'bcc'];

export class ContentIndex {
  private readonly ids = new Map<string, number>();
  private readonly hashes: Array<string | null> = [];
  private readonly sizes: number[] = [];
  private readonly runs = new Map<Field, Dictionary>(fields.map((f) => [f, new Dictionary()]));
  /** Per field, every two adjacent runs with the separator between them ("budget report", "foo.bar"). */
  private readonly pairs = new Map<Field, Dictionary>(fields.map((f) => [f, new Dictionary()]));
  private live = 0;
  private readonly spare: Uint8Array[] = [];
  contentBytes = 0;

  has(hash: string): boolean {
    return this.ids.has(hash);
  }

  /** The document id of a content, or -1 if it is not indexed. */
  idOf(hash: string): number {
    return this.ids.get(hash) ?? -1;
  }

  get documents(): number {
    return this.live;
  }

  /** Documents forgotten whose postings are still held (dropped by the next snapshot). */
  get dead(): number {
    return this.hashes.length - this.live;
  }

  /** Memory of the index: dictionary strings (UTF-16, twice: map key and lookup string), ~48 B per term, postings bytes. */
  get bytes(): number {
    let bytes = 0;
    for (const dictionary of [...this.runs.values(), ...this.pairs.values()]) bytes += dictionary.chars * 4 + dictionary.size * 48 + dictionary.postingBytes;
    return bytes;
  }

  add(hash: string, text: SearchText, contentBytes: number): void {
    if (this.ids.has(hash)) return;
    const id = this.newDocument(hash, contentBytes);
    this.addField('h', id, allHeadersText(text));
    this.addField('b', id, text.body);
    for (const name of ownFields) {
      const value = headerText(text, name);
      if (value !== null) this.addField(name as Field, id, value);
    }
  }

  private newDocument(hash: string, contentBytes: number): number {
    const id = this.hashes.length;
    this.hashes.push(hash);
    this.sizes.push(contentBytes);
    this.ids.set(hash, id);
    this.live += 1;
    this.contentBytes += contentBytes;
    return id;
  }

  /** Forgets a content (its postings stay until the next snapshot; its id never matches again). */
  remove(hash: string): void {
    const id = this.ids.get(hash);
    if (id === undefined) return;
    this.ids.delete(hash);
    this.hashes[id] = null;
    this.live -= 1;
    this.contentBytes -= this.sizes[id]!;
  }

  /** The live contents indexed. */
  contents(): string[] {
    return [...this.ids.keys()];
  }

  private addField(field: Field, id: number, text: string): void {
    const dictionary = this.runs.get(field)!;
    const pairs = this.pairs.get(field)!;
    const folded = fold(text);
    // One pass over the runs: each run, and each two adjacent runs with their separator, is
    // added once per document (the dictionaries skip a term this document already holds).
    let previous = -1;
    const visit = (start: number, end: number): void => {
      dictionary.addOnce(folded.slice(start, end), id);
      if (previous >= 0) pairs.addOnce(folded.slice(previous, end), id);
      previous = start;
    };
    if (!nonAsciiChar.test(folded)) {
      // ASCII: the word characters are the letters and digits, found without the regex's match objects.
      let start = -1;
      for (let i = 0; i <= folded.length; i++) {
        const c = i < folded.length ? folded.charCodeAt(i) : 0;
        const word = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a);
        if (word && start < 0) start = i;
        else if (!word && start >= 0) {
          visit(start, i);
          start = -1;
        }
      }
      return;
    }
    runScan.lastIndex = 0;
    for (let match = runScan.exec(folded); match !== null; match = runScan.exec(folded)) visit(match.index, match.index + match[0].length);
  }

  /** Each hash's answer to the criterion: true, false, or null (unknown: verify). */
  evaluate(criterion: ContentCriterion, hashes: readonly string[]): Maybe[] {
    const codes = this.evaluateIds(criterion, Int32Array.from(hashes, (h) => this.idOf(h)));
    return [...codes].map((c) => (c === answerUnknown ? null : c === answerYes));
  }

  /**
   * Each document's answer (answerNo, answerYes, answerUnknown), for documents given by id (-1:
   * not indexed, so unknown). Leaves are answered once over all documents, as bitmaps; only the
   * boolean combination runs per message.
   */
  evaluateIds(criterion: ContentCriterion, ids: Int32Array, prefixes: ReadonlyArray<SearchText | null> | null = null): Uint8Array {
    switch (criterion.key) {
      case 'and':
      case 'or': {
        const and = criterion.key === 'and';
        const out = this.take(ids.length).fill(and ? answerYes : answerNo);
        for (const child of criterion.of) {
          const values = this.evaluateIds(child, ids, prefixes);
          for (let i = 0; i < out.length; i++) out[i] = and ? kleeneAnd(out[i]!, values[i]!) : kleeneOr(out[i]!, values[i]!);
          this.release(values);
        }
        return out;
      }
      case 'not': {
        const out = this.evaluateIds(criterion.of, ids, prefixes);
        for (let i = 0; i < out.length; i++) if (out[i] !== answerUnknown) out[i] = out[i] === answerYes ? answerNo : answerYes;
        return out;
      }
      default: {
        const answer = this.leaf(criterion);
        const out = this.take(ids.length);
        const hit = answer.exact ? answerYes : answerUnknown;
        const docs = answer.docs;
        for (let i = 0; i < ids.length; i++) {
          const id = ids[i]!;
          out[i] = id < 0 ? answerUnknown : docs === 'all' || docs[id] === 1 ? hit : answerNo;
        }
        if (docs !== 'all') this.release(docs);
        // A message with its own prefix: the key also holds when the prefix's fields match (text.ts
        // `matches`). A prefix has no body, and the messages of a folder share few distinct
        // prefixes (the indexer hands the same object for the same bytes): each is matched once.
        if (prefixes !== null && criterion.key !== 'body') {
          const answers = new Map<SearchText, boolean>();
          for (let i = 0; i < ids.length; i++) {
            const prefix = prefixes[i];
            if (prefix == null || out[i] === answerYes) continue;
            let answer = answers.get(prefix);
            if (answer === undefined) answers.set(prefix, (answer = matches(prefix, criterion)));
            if (answer) out[i] = answerYes;
          }
        }
        return out;
      }
    }
  }

  private leaf(criterion: Extract<ContentCriterion, { value: string }>): LeafAnswer {
    const name = criterion.key === 'header' ? criterion.name.toLowerCase() : criterion.key;
    const asked: Field[] = name === 'text' ? ['h', 'b'] : name === 'body' ? ['b'] : ownFields.has(name) ? [name as Field] : ['h'];
    const answer = this.query(fold(criterion.value), asked);
    // A HEADER search of another field only knows the runs are somewhere in the header.
    return criterion.key === 'header' && !ownFields.has(name) ? { exact: false, docs: answer.docs } : answer;
  }

  private query(q: string, asked: readonly Field[]): LeafAnswer {
    const found = [...q.matchAll(runPattern)];
    const runs = found.map((m) => m[0]);
    if (runs.length === 0) return { exact: false, docs: 'all' }; // only separators, or empty
    const leftBounded = !wordChar.test(q[0]!);
    const rightBounded = !wordChar.test(q[q.length - 1]!);
    // One run alone, or two runs and the separator between them alone, are answered exactly.
    const exact = runs.length <= 2 && !leftBounded && !rightBounded;
    const size = this.hashes.length;
    const docs = this.take(size);
    for (const field of asked) {
      // The documents passing every condition in this field; passing in any field is a hit.
      let passing: Uint8Array;
      if (runs.length >= 2) {
        // Each two adjacent query runs, with their separator, must be two adjacent runs of the document.
        const pairs = this.pairs.get(field)!;
        passing = this.take(size);
        for (let i = 0; i + 1 < runs.length; i++) {
          const leftWhole = i > 0 || leftBounded;
          const rightWhole = i + 2 < runs.length || rightBounded;
          const pattern = `${leftWhole ? '\n' : ''}${q.slice(found[i]!.index, found[i + 1]!.index + runs[i + 1]!.length)}${rightWhole ? '\n' : ''}`;
          if (i === 0) {
            pairs.markMatching(pattern, passing);
            continue;
          }
          const hits = this.take(size);
          pairs.markMatching(pattern, hits);
          for (let k = 0; k < size; k++) passing[k] = passing[k]! & hits[k]!;
          this.release(hits);
        }
      } else {
        // Something precedes the run: it starts a document run; something follows: it ends one.
        const run = runs[0]!;
        const dictionary = this.runs.get(field)!;
        if (asked.length === 1) passing = docs; // mark straight into the answer
        else passing = this.take(size);
        if (leftBounded && rightBounded) dictionary.markTerm(run, passing);
        else dictionary.mark(run, leftBounded ? 'prefix' : rightBounded ? 'suffix' : 'includes', passing);
      }
      if (passing !== docs) {
        for (let k = 0; k < size; k++) docs[k] = docs[k]! | passing[k]!;
        this.release(passing);
      }
    }
    return { exact, docs };
  }

  /**
   * A zeroed bitmap of `size` bytes, reused from earlier searches when one is spare: a search
   * of 100,000 messages needs several 100 KB bitmaps, and allocating them anew each time makes
   * the garbage collector run full collections over the whole index.
   */
  private take(size: number): Uint8Array {
    for (let i = this.spare.length - 1; i >= 0; i--) {
      const bitmap = this.spare[i]!;
      if (bitmap.length !== size) continue;
      this.spare.splice(i, 1);
      return bitmap.fill(0);
    }
    return new Uint8Array(size);
  }

  /** Gives back a bitmap from take() or evaluateIds() that is no longer used. */
  release(bitmap: Uint8Array): void {
    if (this.spare.length < spareBitmapsMax) this.spare.push(bitmap);
  }

  // ------------------------------------------------------------------ snapshot (persisted form)
  //
  //   "QSIX" | u32 format | u32 headerLength | header JSON {format, position, documents, contentBytes}
  //   documents, ids 0..n-1:  (varint hashLength, hash UTF-8, varint contentBytes) x documents
  //   dictionaries, 7 fields x (runs, pairs), in `fields` order:
  //     varint terms, then per term in sorted order:
  //       varint shared (bytes in common with the previous term's UTF-8) | varint suffixLength |
  //       suffix UTF-8 | varint count | varint lastId | varint postingsLength | postings
  //   u32 CRC32C of everything before it
  //
  // Sorted, front-coded terms keep the dictionary small and ready for prefix search; postings
  // are the in-memory bytes (delta + varint). The snapshot numbers live documents 0..n-1, so
  // forgotten contents' postings are dropped when it is written.

  /** The persisted form: live documents only, renumbered; `position` is the log position it covers. */
  encode(position: number, checksum: (bytes: Uint8Array) => number): Uint8Array {
    const steps = this.encodeSteps(position, checksum);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /**
   * The same bytes as `encode` gives now, encoded in slices of about `sliceMs` that yield to
   * the event loop in between (the database's commits run meanwhile). Documents added or
   * forgotten while it runs are not in it: it encodes the index as it was when called.
   */
  async encodeSliced(position: number, checksum: (bytes: Uint8Array) => number, sliceMs: number): Promise<Uint8Array> {
    const steps = this.encodeSteps(position, checksum); // the consistent view is taken here, synchronously
    let sliceStart = performance.now();
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
      if (performance.now() - sliceStart < sliceMs) continue;
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }

  /**
   * Takes the view a snapshot covers now — the live documents (remove() nulls a hash in place,
   * so they are listed now), the content bytes, each dictionary's term count and the first
   * document id not given yet (postings.ts `view`) — and returns the steps that encode it,
   * yielding every few terms.
   */
  private encodeSteps(position: number, checksum: (bytes: Uint8Array) => number): Generator<void, Uint8Array> {
    const remap = new Int32Array(this.hashes.length).fill(-1);
    const live: number[] = [];
    for (let id = 0; id < this.hashes.length; id++) if (this.hashes[id] !== null) remap[id] = live.push(id) - 1;
    const documents = live.map((id) => ({ hash: this.hashes[id]!, size: this.sizes[id]! }));
    const compact = live.length < this.hashes.length;
    const header = JSON.stringify({ format: snapshotFormat, position, documents: live.length, contentBytes: this.contentBytes });
    const dictionaries = fields.flatMap((field) => [this.runs.get(field)!, this.pairs.get(field)!].map((dictionary) => ({ dictionary, view: dictionary.view(this.hashes.length) })));
    return writeSnapshot(header, documents, dictionaries, compact ? remap : null, checksum);
  }

  /** Reads a snapshot; throws SnapshotError when it is damaged or of another format (then: rebuild). */
  static decode(bytes: Uint8Array, checksum: (bytes: Uint8Array) => number): { index: ContentIndex; position: number } {
    if (bytes.length < 16) throw new SnapshotError('too short');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (checksum(bytes.subarray(0, bytes.length - 4)) !== view.getUint32(bytes.length - 4, true)) throw new SnapshotError('checksum mismatch');
    const reader = new ByteReader(bytes.subarray(0, bytes.length - 4));
    if (dec.decode(reader.bytes(4)) !== 'QSIX') throw new SnapshotError('not a search index');
    const format = reader.u32();
    if (format !== snapshotFormat) throw new SnapshotError(`format ${format}, expected ${snapshotFormat}`);
    const header = JSON.parse(dec.decode(reader.bytes(reader.u32()))) as { position: number; documents: number };
    const index = new ContentIndex();
    for (let i = 0; i < header.documents; i++) {
      const hash = dec.decode(reader.bytes(reader.varint()));
      index.newDocument(hash, reader.varint());
    }
    for (const field of fields) {
      for (const dictionary of [index.runs.get(field)!, index.pairs.get(field)!]) {
        const terms = reader.varint();
        const loaded: { terms: string[]; postings: Uint8Array[]; lastIds: number[]; counts: number[] } = { terms: [], postings: [], lastIds: [], counts: [] };
        let previous: Uint8Array = new Uint8Array(0);
        for (let i = 0; i < terms; i++) {
          const shared = reader.varint();
          const suffix = reader.bytes(reader.varint());
          if (shared > previous.length) throw new SnapshotError('bad term prefix');
          const term = new Uint8Array(shared + suffix.length);
          term.set(previous.subarray(0, shared));
          term.set(suffix, shared);
          const count = reader.varint();
          const lastId = reader.varint();
          const postings = reader.bytes(reader.varint());
          if (lastId >= header.documents) throw new SnapshotError('a posting past the documents');
          loaded.terms.push(dec.decode(term));
          loaded.postings.push(postings);
          loaded.lastIds.push(lastId);
          loaded.counts.push(count);
          previous = term;
        }
        dictionary.loadEncoded(loaded.terms, loaded.postings, loaded.lastIds, loaded.counts);
      }
    }
    if (!reader.done) throw new SnapshotError('trailing bytes');
    return { index, position: header.position };
  }
}

const spareBitmapsMax = 8;

/** Bump when text extraction, folding or the snapshot layout changes: older snapshots are rebuilt. */
export const snapshotFormat = 1;
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
const magic = enc.encode('QSIX');

export class SnapshotError extends Error {
  override name = 'SnapshotError';
}

function encodePostings(ids: readonly number[]): Uint8Array {
  const out = new ByteWriter(ids.length * 5);
  let last = -1;
  for (const id of ids) {
    out.varint(last < 0 ? id : id - last);
    last = id;
  }
  return out.view().slice();
}

/** Terms encoded between two yields of `writeSnapshot`. */
const termsPerStep = 256;

/** Encodes a snapshot from its captured view (`ContentIndex.encodeSteps`), yielding every `termsPerStep` terms. */
function* writeSnapshot(
  headerJson: string,
  documents: ReadonlyArray<{ hash: string; size: number }>,
  dictionaries: ReadonlyArray<{ dictionary: Dictionary; view: DictionaryView }>,
  remap: Int32Array | null,
  checksum: (bytes: Uint8Array) => number,
): Generator<void, Uint8Array> {
  const out = new ByteWriter();
  const header = enc.encode(headerJson);
  out.bytes(magic);
  out.u32(snapshotFormat);
  out.u32(header.length);
  out.bytes(header);
  for (let i = 0; i < documents.length; i++) {
    const hash = enc.encode(documents[i]!.hash);
    out.varint(hash.length);
    out.bytes(hash);
    out.varint(documents[i]!.size);
    if (i % (termsPerStep * 16) === 0) yield;
  }
  for (const { dictionary, view } of dictionaries) {
    // Terms in code-unit order, as `<` compares. (A term's number never changes: numberOf of a
    // term in the view is its number there.)
    const sorted = yield* sortInSteps(dictionary.terms, view.terms);
    // Compacted postings (forgotten documents dropped, renumbered); a term left with none is not written.
    let kept: Array<{ postings: Uint8Array; count: number; lastId: number } | null> | null = null;
    if (remap !== null) {
      kept = [];
      for (let i = 0; i < sorted.length; i++) {
        kept.push(compactPostings(dictionary.postingsAt(view, dictionary.numberOf(sorted[i]!)).postings, remap));
        if (i % termsPerStep === 0) yield;
      }
    }
    out.varint(kept === null ? sorted.length : kept.reduce((n, k) => n + (k === null ? 0 : 1), 0));
    let previous = new Uint8Array(64);
    let current = new Uint8Array(64);
    let previousLength = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (i % termsPerStep === 0) yield;
      const term = sorted[i]!;
      const t = dictionary.numberOf(term);
      const compacted = kept === null ? undefined : kept[i]!;
      if (compacted === null) continue;
      const { postings, count, lastId } = compacted ?? dictionary.postingsAt(view, t);
      if (current.length < term.length * 3) current = new Uint8Array(term.length * 3);
      const length = enc.encodeInto(term, current).written;
      let shared = 0;
      const most = Math.min(previousLength, length);
      while (shared < most && previous[shared] === current[shared]) shared++;
      out.varint(shared);
      out.varint(length - shared);
      out.bytes(current.subarray(shared, length));
      out.varint(count);
      out.varint(lastId);
      out.varint(postings.length);
      out.bytes(postings);
      [previous, current] = [current, previous];
      previousLength = length;
    }
  }
  out.u32(checksum(out.view()));
  return out.view();
}

/** Terms sorted natively at a time (a few ms), then merged (a dictionary of 400,000 terms takes ~250 ms to sort at once). */
const sortChunk = 8192;

/** The first `count` strings in code-unit order (as the native sort and `<` compare), sorted in chunks and merged, yielding between steps. */
function* sortInSteps(strings: readonly string[], count: number): Generator<void, string[]> {
  let runs: string[][] = [];
  for (let i = 0; i < count; i += sortChunk) {
    runs.push(strings.slice(i, Math.min(i + sortChunk, count)).sort());
    yield;
  }
  while (runs.length > 1) {
    const merged: string[][] = [];
    for (let r = 0; r + 1 < runs.length; r += 2) {
      const a = runs[r]!;
      const b = runs[r + 1]!;
      const out = new Array<string>(a.length + b.length);
      let i = 0;
      let j = 0;
      let k = 0;
      while (i < a.length && j < b.length) {
        out[k++] = a[i]! < b[j]! ? a[i++]! : b[j++]!;
        if (k % sortChunk === 0) yield;
      }
      while (i < a.length) out[k++] = a[i++]!;
      while (j < b.length) out[k++] = b[j++]!;
      merged.push(out);
    }
    if (runs.length % 2 === 1) merged.push(runs[runs.length - 1]!);
    runs = merged;
  }
  return runs[0] ?? [];
}

/** A term's postings with forgotten documents dropped and the rest renumbered (`remap`, -1: gone); null when none is left. */
function compactPostings(encoded: Uint8Array, remap: Int32Array): { postings: Uint8Array; count: number; lastId: number } | null {
  const ids = decodePostings(encoded).map((id) => remap[id]!).filter((id) => id >= 0);
  if (ids.length === 0) return null;
  return { postings: encodePostings(ids), count: ids.length, lastId: ids[ids.length - 1]! };
}

class ByteWriter {
  private buffer: Uint8Array;
  private length = 0;

  constructor(initialBytes = 1 << 16) {
    this.buffer = new Uint8Array(Math.max(16, initialBytes));
  }

  private room(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  varint(value: number): void {
    this.room(10);
    let v = value;
    while (v >= 0x80) {
      this.buffer[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buffer[this.length++] = v;
  }

  u32(value: number): void {
    this.room(4);
    new DataView(this.buffer.buffer).setUint32(this.length, value >>> 0, true);
    this.length += 4;
  }

  bytes(data: Uint8Array): void {
    this.room(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }

  view(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

class ByteReader {
  private at = 0;
  constructor(private readonly data: Uint8Array) {}

  get done(): boolean {
    return this.at === this.data.length;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.at >= this.data.length) throw new SnapshotError('truncated');
      const byte = this.data[this.at++]!;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 0x80;
      if (scale > 2 ** 49) throw new SnapshotError('varint too long');
    }
  }

  u32(): number {
    const b = this.bytes(4);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }

  bytes(n: number): Uint8Array {
    if (this.at + n > this.data.length) throw new SnapshotError('truncated');
    const out = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

function kleeneAnd(a: number, b: number): number {
  if (a === answerNo || b === answerNo) return answerNo;
  if (a === answerUnknown || b === answerUnknown) return answerUnknown;
  return answerYes;
}

function kleeneOr(a: number, b: number): number {
  if (a === answerYes || b === answerYes) return answerYes;
  if (a === answerUnknown || b === answerUnknown) return answerUnknown;
  return answerNo;
}
