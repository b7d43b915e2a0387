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
}

/**
 * `key` as a test of a row of the view (sequence number - 1): the key is looked at once here,
 * so a search over 100,000 messages runs closures over the view's columns, not a switch per
 * message. Content keys read what was asked of content.ts before (c.content).
 */
function compile(key: SearchKey, c: Context): (row: number) => boolean {
  const view = c.view;
  switch (key.kind) {
    case 'all':
    case 'old':
      return () => true;
    // No \Recent in this server (RFC 9051 removed it): NEW and RECENT match nothing, OLD everything.
    case 'new':
    case 'recent':
      return () => false;
    case 'and': {
      const tests = key.keys.map((k) => compile(k, c));
      if (tests.length === 1) return tests[0]!;
      return (row) => {
        for (const t of tests) if (!t(row)) return false;
        return true;
      };
    }
    case 'or': {
      const left = compile(key.left, c);
      const right = compile(key.right, c);
      return (row) => left(row) || right(row);
    }
    case 'not': {
      const inner = compile(key.key, c);
      return (row) => !inner(row);
    }
    case 'flag': {
      // Which of the view's distinct flag lists hold the flag: then one array read per message.
      const table = view.flagListsHolding(key.flag);
      const want = key.set ? 1 : 0;
      return (row) => table[view.flagListAt(row)] === want;
    }
    case 'date':
      if (key.field === 'internal') {
        const { op, date } = key;
        return (row) => compareDay(dayOf(view.internalDateAt(row)), op, date);
      }
      return (row) => {
        const envelope = c.summaries.get(view.uids[row]!)?.summary.envelope;
        if (envelope === undefined || envelope.dateMs === null) return false;
        return compareDay(dayOf(envelope.dateMs + (envelope.dateOffsetMinutes ?? 0) * 60_000), key.op, key.date);
      };
    case 'age': {
      const limitMs = key.seconds * 1000;
      return key.op === 'older' ? (row) => c.nowMs - view.internalDateAt(row) >= limitMs : (row) => c.nowMs - view.internalDateAt(row) <= limitMs;
    }
    case 'header':
    case 'text': {
      const found = c.content.get(key);
      return (row) => found?.has(view.uids[row]!) === true;
    }
    case 'size': {
      const { bytes } = key;
      return key.op === 'larger' ? (row) => view.sizeAt(row) > bytes : (row) => view.sizeAt(row) < bytes;
    }
    case 'sequence':
    case 'uid': {
      const set = c.sets.get(key);
      return (row) => set?.has(view.uids[row]!) === true;
    }
    case 'modseq': {
      const { modseq } = key;
      return (row) => BigInt(view.modseqAt(row)) >= modseq;
    }
    case 'emailid': {
      const { id } = key;
      return (row) => view.emailIdAt(row) === id;
    }
    case 'threadid': {
      const { id } = key;
      return (row) => view.threadIdAt(row) === id;
    }
  }
}

/** The UIDs of the view's messages (not yet-announced expunges) that match `key`. */
export async function evaluateSearch(view: SelectedMailbox, key: SearchKey, scope: ContentScope, nowMs: number): Promise<Result<SearchOutcome>> {
  const c: Context = { view, nowMs, content: new Map(), summaries: new Map(), sets: new Map() };
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
  // null: every row (nothing awaits its EXPUNGE and no content key narrowed them).
  let rows: number[] | null = null;
  if (view.pendingExpunge.size > 0) {
    rows = [];
    for (let row = 0; row < view.exists; row++) if (!view.pendingExpunge.has(view.uids[row]!)) rows.push(row);
  }
  if (needsContent) {
    rows ??= Array.from({ length: view.exists }, (_, row) => row);
    // Narrow by the cheap conjuncts first, so content is read only where it can still matter.
    const conjuncts = key.kind === 'and' ? key.keys : [key];
    const cheap = conjuncts.filter((k) => !hasContentKey(k));
    const narrow = compile({ kind: 'and', keys: cheap }, c);
    rows = rows.filter((row) => narrow(row));
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
  }
  // Compiled now: content answers are in, and the view's flag lists as they are now.
  const matches = compile(key, c);
  const uids: number[] = [];
  if (rows === null) {
    for (let row = 0; row < view.exists; row++) if (matches(row)) uids.push(view.uids[row]!);
  } else for (const row of rows) if (matches(row)) uids.push(view.uids[row]!);
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
