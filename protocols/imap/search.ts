// SEARCH key evaluation (RFC 9051 §6.4.4, RFC 7162 MODSEQ, RFC 5032 WITHIN, RFC 8474 OBJECTID,
// RFC 5182 `$`). Flags, dates, sizes, sequence and UID sets and modseqs come from the view
// (listMessages); header and body keys and sent dates go through content.ts, asked once per key
// over only the messages the cheap keys at the top level leave.

import type { MessageContent } from '../../engine/api.js';
import { ok, type Result } from '../../engine/errors.js';
import { contentMatches, summariesOf, type ContentQuery, type ContentScope } from './content.js';
import type { SelectedMailbox } from './selected.js';
import type { ImapDate, SearchKey } from './wire/types.js';

export interface SearchOutcome {
  /** Matching UIDs, ascending. */
  readonly uids: number[];
  /** True when a MODSEQ key was used (the reply then carries the highest modseq). */
  readonly usedModseq: boolean;
}

function isContentKey(key: SearchKey): boolean {
  return key.kind === 'header' || key.kind === 'text' || (key.kind === 'date' && key.field === 'sent');
}

function walk(key: SearchKey, visit: (k: SearchKey) => void): void {
  visit(key);
  if (key.kind === 'and') for (const k of key.keys) walk(k, visit);
  else if (key.kind === 'or') {
    walk(key.left, visit);
    walk(key.right, visit);
  } else if (key.kind === 'not') walk(key.key, visit);
}

const dayNumber = (d: ImapDate): number => Date.UTC(d.year, d.month - 1, d.day) / 86_400_000;
const dayOf = (ms: number): number => Math.floor(ms / 86_400_000);

function compareDay(day: number, op: 'before' | 'on' | 'since', date: ImapDate): boolean {
  const target = dayNumber(date);
  return op === 'before' ? day < target : op === 'on' ? day === target : day >= target;
}

interface Context {
  readonly view: SelectedMailbox;
  readonly nowMs: number;
  readonly content: Map<SearchKey, Set<number>>;
  readonly summaries: Map<number, MessageContent>;
  readonly sets: Map<SearchKey, Set<number>>;
  /** Per flag (lowercased): which of the view's flag lists hold it (SelectedMailbox.flagListsHolding). */
  readonly flagTables: Map<string, Uint8Array>;
}

/** Whether the message at `row` of the view (sequence number - 1) matches `key`. */
function test(key: SearchKey, row: number, c: Context): boolean {
  const view = c.view;
  switch (key.kind) {
    case 'all':
      return true;
    case 'and':
      return key.keys.every((k) => test(k, row, c));
    case 'or':
      return test(key.left, row, c) || test(key.right, row, c);
    case 'not':
      return !test(key.key, row, c);
    case 'flag': {
      // One table per flag for the whole search: a flag test is then one array read per message.
      const name = key.flag.toLowerCase();
      let table = c.flagTables.get(name);
      if (table === undefined) {
        table = view.flagListsHolding(name);
        c.flagTables.set(name, table);
      }
      return (table[view.flagListAt(row)] === 1) === key.set;
    }
    // No \Recent in this server (RFC 9051 removed it): NEW and RECENT match nothing, OLD everything.
    case 'new':
    case 'recent':
      return false;
    case 'old':
      return true;
    case 'date':
      if (key.field === 'internal') return compareDay(dayOf(view.internalDateAt(row)), key.op, key.date);
      {
        const envelope = c.summaries.get(view.uids[row]!)?.summary.envelope;
        if (envelope === undefined || envelope.dateMs === null) return false;
        return compareDay(dayOf(envelope.dateMs + (envelope.dateOffsetMinutes ?? 0) * 60_000), key.op, key.date);
      }
    case 'age': {
      const ageMs = c.nowMs - view.internalDateAt(row);
      return key.op === 'older' ? ageMs >= key.seconds * 1000 : ageMs <= key.seconds * 1000;
    }
    case 'header':
    case 'text':
      return c.content.get(key)?.has(view.uids[row]!) === true;
    case 'size':
      return key.op === 'larger' ? view.sizeAt(row) > key.bytes : view.sizeAt(row) < key.bytes;
    case 'sequence':
    case 'uid':
      return c.sets.get(key)?.has(view.uids[row]!) === true;
    case 'modseq':
      return BigInt(view.modseqAt(row)) >= key.modseq;
    case 'emailid':
      return view.emailIdAt(row) === key.id;
    case 'threadid':
      return view.threadIdAt(row) === key.id;
  }
}

/** The UIDs of the view's messages (not yet-announced expunges) that match `key`. */
export async function evaluateSearch(view: SelectedMailbox, key: SearchKey, scope: ContentScope, nowMs: number): Promise<Result<SearchOutcome>> {
  const c: Context = { view, nowMs, content: new Map(), summaries: new Map(), sets: new Map(), flagTables: new Map() };
  let usedModseq = false;
  let needsContent = false;
  let needsSentDate = false;
  walk(key, (k) => {
    if (k.kind === 'modseq') usedModseq = true;
    if (isContentKey(k)) needsContent = true;
    if (k.kind === 'date' && k.field === 'sent') needsSentDate = true;
    if (k.kind === 'sequence' || k.kind === 'uid') c.sets.set(k, new Set(resolveLenient(view, k)));
  });
  // Rows of the view (sequence number - 1), walked over its columns: no object per message.
  let rows: number[] = [];
  for (let row = 0; row < view.exists; row++) if (view.pendingExpunge.size === 0 || !view.pendingExpunge.has(view.uids[row]!)) rows.push(row);
  if (needsContent) {
    // Narrow by the cheap conjuncts first, so content is read only where it can still matter.
    const conjuncts = key.kind === 'and' ? key.keys : [key];
    const cheap = conjuncts.filter((k) => !hasContentKey(k));
    rows = rows.filter((row) => cheap.every((k) => test(k, row, c)));
    const candidates = rows.map((row) => view.uids[row]!);
    if (needsSentDate) {
      const got = await summariesOf(scope, candidates);
      if (!got.ok) return got;
      for (const [uid, m] of got.value) c.summaries.set(uid, m);
    }
    const queries: SearchKey[] = [];
    walk(key, (k) => {
      if (k.kind === 'header' || k.kind === 'text') queries.push(k);
    });
    for (const k of queries) {
      const query: ContentQuery = k.kind === 'header' ? { key: 'header', name: k.field, value: k.value } : { key: k.kind === 'text' ? k.where : 'text', value: k.kind === 'text' ? k.value : '' };
      const got = await contentMatches(scope, query, candidates);
      if (!got.ok) return got;
      c.content.set(k, got.value);
    }
    // The view's flag lists may have been renumbered while content was read.
    c.flagTables.clear();
  }
  const uids: number[] = [];
  for (const row of rows) if (test(key, row, c)) uids.push(view.uids[row]!);
  return ok({ uids, usedModseq });
}

function hasContentKey(key: SearchKey): boolean {
  let found = false;
  walk(key, (k) => {
    if (isContentKey(k)) found = true;
  });
  return found;
}

/** A sequence or UID set in a search key: numbers out of range simply match nothing. */
function resolveLenient(view: SelectedMailbox, key: Extract<SearchKey, { kind: 'sequence' | 'uid' }>): number[] {
  const byUid = key.kind === 'uid';
  const exact = view.resolve(key.set, byUid);
  if (exact !== null) return exact;
  if (key.set.kind === 'saved') return [];
  const max = view.exists;
  const at = (b: number | '*'): number => (b === '*' ? max : b);
  const clipped = key.set.ranges
    .filter((r) => Math.min(at(r.start), at(r.end)) <= max)
    .map((r) => ({ start: Math.min(at(r.start), max), end: Math.min(at(r.end), max) }));
  if (clipped.length === 0) return [];
  return view.resolve({ kind: 'ranges', ranges: clipped }, false) ?? [];
}
