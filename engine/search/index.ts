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

import { fold, runsOf, allHeadersText, headerText, type SearchText, wordChar } from './text.js';

const runPattern = /[\p{L}\p{N}\p{M}]+/gu;
import type { ContentCriterion } from './types.js';

type Field = 'h' | 'b' | 'subject' | 'from' | 'to' | 'cc' | 'bcc';
const ownFields = new Set<string>(['subject', 'from', 'to', 'cc', 'bcc']);

/** true, false, or null (unknown: verify with the brute-force matcher). */
export type Maybe = boolean | null;

/**
 * One field's terms: a map for whole-term lookups and, for substring, prefix and suffix
 * lookups, every term in one string ("\nterm\nterm\n") searched with the native indexOf —
 * far faster than testing each term in a loop. Runs never contain "\n" (whitespace).
 */
class Dictionary {
  readonly postings = new Map<string, number[]>();
  private readonly lists: number[][] = [];
  private readonly starts: number[] = [];
  private blob = '\n';
  chars = 0;

  get size(): number {
    return this.lists.length;
  }

  add(term: string, id: number): void {
    let list = this.postings.get(term);
    if (list === undefined) {
      this.postings.set(term, (list = []));
      this.lists.push(list);
      this.starts.push(this.blob.length);
      this.blob += `${term}\n`;
      this.chars += term.length;
    }
    list.push(id);
  }

  /** Calls `visit` with the postings of every term that contains (starts with, ends with) `run`. */
  each(run: string, mode: 'includes' | 'prefix' | 'suffix', visit: (list: readonly number[]) => void): void {
    this.matching(mode === 'prefix' ? `\n${run}` : mode === 'suffix' ? `${run}\n` : run, visit);
  }

  /** Calls `visit` with the postings of every term matching `pattern` in the lookup string ("\n" = a term's edge). */
  matching(pattern: string, visit: (list: readonly number[]) => void): void {
    const edge = pattern.startsWith('\n') ? 1 : 0;
    const { starts, blob } = this;
    let from = 0;
    for (;;) {
      const at = blob.indexOf(pattern, from);
      if (at < 0) return;
      const position = at + edge;
      let lo = 0;
      let hi = starts.length; // the last term starting at or before `position`
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! <= position) lo = mid;
        else hi = mid;
      }
      visit(this.lists[lo]!);
      from = lo + 1 < starts.length ? starts[lo + 1]! - edge : blob.length;
    }
  }
}

interface LeafAnswer {
  readonly exact: boolean;
  /** Documents that match (exact) or may match (not exact), as a bitmap over document ids. */
  readonly docs: Uint8Array | 'all';
}

export class ContentIndex {
  private readonly ids = new Map<string, number>();
  private readonly hashes: Array<string | null> = [];
  private readonly sizes: number[] = [];
  private readonly fields = new Map<Field, Dictionary>();
  /** Per field, every two adjacent runs with the separator between them ("budget report", "foo.bar"). */
  private readonly pairs = new Map<Field, Dictionary>();
  private postings = 0;
  private live = 0;
  contentBytes = 0;

  has(hash: string): boolean {
    return this.ids.has(hash);
  }

  get documents(): number {
    return this.live;
  }

  /** Estimated memory: UTF-16 dictionary strings, per-term overhead, 4 bytes per posting. */
  get bytes(): number {
    let terms = 0;
    let chars = 0;
    for (const field of [...this.fields.values(), ...this.pairs.values()]) {
      terms += field.size;
      chars += field.chars;
    }
    // Each term's characters twice (map key, lookup string), 48 B of map and list overhead, 4 B per posting.
    return chars * 4 + terms * 48 + this.postings * 4;
  }

  add(hash: string, text: SearchText, contentBytes: number): void {
    if (this.ids.has(hash)) return;
    const id = this.hashes.length;
    this.hashes.push(hash);
    this.sizes.push(contentBytes);
    this.ids.set(hash, id);
    this.live += 1;
    this.contentBytes += contentBytes;
    this.addField('h', id, allHeadersText(text));
    this.addField('b', id, text.body);
    for (const name of ownFields) {
      const value = headerText(text, name);
      if (value !== null) this.addField(name as Field, id, value);
    }
  }

  /** Forgets a content (its postings stay until a rebuild; its id never matches again). */
  remove(hash: string): void {
    const id = this.ids.get(hash);
    if (id === undefined) return;
    this.ids.delete(hash);
    this.hashes[id] = null;
    this.live -= 1;
    this.contentBytes -= this.sizes[id]!;
  }

  private addField(field: Field, id: number, text: string): void {
    let dictionary = this.fields.get(field);
    if (dictionary === undefined) this.fields.set(field, (dictionary = new Dictionary()));
    let pairs = this.pairs.get(field);
    if (pairs === undefined) this.pairs.set(field, (pairs = new Dictionary()));
    const folded = fold(text);
    for (const run of runsOf(folded)) {
      dictionary.add(run, id);
      this.postings += 1;
    }
    const seen = new Set<string>();
    let previous = -1;
    for (const match of folded.matchAll(runPattern)) {
      if (previous >= 0) seen.add(folded.slice(previous, match.index + match[0].length));
      previous = match.index;
    }
    for (const pair of seen) {
      pairs.add(pair, id);
      this.postings += 1;
    }
  }

  /** Each hash's answer to the criterion: true, false, or null (unknown: verify). */
  evaluate(criterion: ContentCriterion, hashes: readonly string[]): Maybe[] {
    const ids = hashes.map((h) => this.ids.get(h) ?? -1);
    return this.evaluateIds(criterion, ids);
  }

  private evaluateIds(criterion: ContentCriterion, ids: readonly number[]): Maybe[] {
    switch (criterion.key) {
      case 'and':
      case 'or': {
        const and = criterion.key === 'and';
        let out: Maybe[] = ids.map(() => and);
        for (const child of criterion.of) {
          const values = this.evaluateIds(child, ids);
          out = out.map((a, i) => (and ? kleeneAnd(a, values[i]!) : kleeneOr(a, values[i]!)));
        }
        return out;
      }
      case 'not':
        return this.evaluateIds(criterion.of, ids).map((v) => (v === null ? null : !v));
      default: {
        const answer = this.leaf(criterion);
        return ids.map((id) => {
          if (id < 0) return null; // not indexed: the caller verifies
          const hit = answer.docs === 'all' ? true : answer.docs[id] === 1;
          return hit ? (answer.exact ? true : null) : false;
        });
      }
    }
  }

  private leaf(criterion: Extract<ContentCriterion, { value: string }>): LeafAnswer {
    const name = criterion.key === 'header' ? criterion.name.toLowerCase() : criterion.key;
    const fields: Field[] = name === 'text' ? ['h', 'b'] : name === 'body' ? ['b'] : ownFields.has(name) ? [name as Field] : ['h'];
    const answer = this.query(fold(criterion.value), fields);
    // A HEADER search of another field only knows the runs are somewhere in the header.
    return criterion.key === 'header' && !ownFields.has(name) ? { exact: false, docs: answer.docs } : answer;
  }

  private query(q: string, fields: readonly Field[]): LeafAnswer {
    const found = [...q.matchAll(runPattern)];
    const runs = found.map((m) => m[0]);
    if (runs.length === 0) return { exact: false, docs: 'all' }; // only separators, or empty
    const leftBounded = !wordChar.test(q[0]!);
    const rightBounded = !wordChar.test(q[q.length - 1]!);
    // One run alone, or two runs and the separator between them alone, are answered exactly.
    const exact = runs.length <= 2 && !leftBounded && !rightBounded;
    const docs = new Uint8Array(this.hashes.length);
    if (runs.length >= 2) {
      // Each two adjacent query runs, with their separator, must be two adjacent runs of the document.
      for (const field of fields) {
        const pairs = this.pairs.get(field);
        if (pairs === undefined) continue;
        let passing: Uint8Array | null = null;
        for (let i = 0; i + 1 < runs.length; i++) {
          const leftWhole = i > 0 || leftBounded;
          const rightWhole = i + 2 < runs.length || rightBounded;
          const pattern = `${leftWhole ? '\n' : ''}${q.slice(found[i]!.index, found[i + 1]!.index + runs[i + 1]!.length)}${rightWhole ? '\n' : ''}`;
          const hits = new Uint8Array(this.hashes.length);
          pairs.matching(pattern, (list) => {
            for (const id of list) hits[id] = 1;
          });
          if (passing === null) passing = hits;
          else for (let k = 0; k < hits.length; k++) passing[k] = passing[k]! & hits[k]!;
        }
        if (passing !== null) for (let k = 0; k < passing.length; k++) docs[k] = docs[k]! | passing[k]!;
      }
      return { exact, docs };
    }
    for (const field of fields) {
      const dictionary = this.fields.get(field);
      if (dictionary === undefined) continue;
      // Documents passing every run's condition in this field.
      let passing: Uint8Array | null = null;
      for (let i = 0; i < runs.length; i++) {
        const run = runs[i]!;
        const prefix = i > 0 || leftBounded; // something precedes the run: it starts a document run
        const suffix = i < runs.length - 1 || rightBounded; // something follows: it ends one
        const hits = new Uint8Array(this.hashes.length);
        const mark = (list: readonly number[]): void => {
          for (const id of list) hits[id] = 1;
        };
        if (prefix && suffix) mark(dictionary.postings.get(run) ?? []);
        else dictionary.each(run, prefix ? 'prefix' : suffix ? 'suffix' : 'includes', mark);
        if (passing === null) passing = hits;
        else for (let k = 0; k < hits.length; k++) passing[k] = passing[k]! & hits[k]!;
      }
      if (passing !== null) for (let k = 0; k < passing.length; k++) docs[k] = docs[k]! | passing[k]!;
    }
    return { exact, docs };
  }
}

function kleeneAnd(a: Maybe, b: Maybe): Maybe {
  if (a === false || b === false) return false;
  if (a === null || b === null) return null;
  return true;
}

function kleeneOr(a: Maybe, b: Maybe): Maybe {
  if (a === true || b === true) return true;
  if (a === null || b === null) return null;
  return false;
}
