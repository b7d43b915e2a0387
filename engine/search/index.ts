// The content index of one database copy: for each field (all headers, body, and the subject,
// from, to, cc, bcc headers on their own) a dictionary from word run to the documents (content
// hashes) that hold it. Documents are contents, not messages: copies and moves share them.
//
// Exactness. A run is a maximal sequence of letters, digits and marks in the folded text
// (text.ts); the class of a character does not depend on its neighbours. So a folded query
// that is one run and nothing else occurs in a text exactly when it is a substring of one of
// the text's runs: the index answers it exactly. Any other query (several runs, or separators
// around them) has a necessary condition the index checks — inner runs are whole runs, the
// first run ends one (suffix) when something follows it, the last starts one (prefix) when
// something precedes it — and the documents passing it are verified by the brute-force matcher.
// Evaluation is three-valued (true, false, unknown) so AND/OR/NOT stay exact.

import { fold, runsOf, allHeadersText, headerText, type SearchText, wordChar } from './text.js';
import type { ContentCriterion } from './types.js';

type Field = 'h' | 'b' | 'subject' | 'from' | 'to' | 'cc' | 'bcc';
const ownFields = new Set<string>(['subject', 'from', 'to', 'cc', 'bcc']);

/** true, false, or null (unknown: verify with the brute-force matcher). */
export type Maybe = boolean | null;

interface LeafAnswer {
  readonly exact: boolean;
  /** Documents that match (exact) or may match (not exact), as a bitmap over document ids. */
  readonly docs: Uint8Array | 'all';
}

export class ContentIndex {
  private readonly ids = new Map<string, number>();
  private readonly hashes: Array<string | null> = [];
  private readonly sizes: number[] = [];
  private readonly fields = new Map<Field, Map<string, number[]>>();
  private termChars = 0;
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
    for (const field of this.fields.values()) terms += field.size;
    return this.termChars * 2 + terms * 48 + this.postings * 4;
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
    if (dictionary === undefined) this.fields.set(field, (dictionary = new Map()));
    for (const run of runsOf(fold(text))) {
      let list = dictionary.get(run);
      if (list === undefined) {
        dictionary.set(run, (list = []));
        this.termChars += run.length;
      }
      list.push(id);
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
    const runs = q.match(/[\p{L}\p{N}\p{M}]+/gu) ?? [];
    if (runs.length === 0) return { exact: false, docs: 'all' }; // only separators, or empty
    const exact = runs.length === 1 && runs[0] === q;
    const leftBounded = !wordChar.test(q[0]!);
    const rightBounded = !wordChar.test(q[q.length - 1]!);
    const docs = new Uint8Array(this.hashes.length);
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
        if (prefix && suffix) {
          for (const id of dictionary.get(run) ?? []) hits[id] = 1;
        } else {
          const test = prefix ? (t: string) => t.startsWith(run) : suffix ? (t: string) => t.endsWith(run) : (t: string) => t.includes(run);
          for (const [term, list] of dictionary) if (test(term)) for (const id of list) hits[id] = 1;
        }
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
