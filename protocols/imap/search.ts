// SEARCH key evaluation (RFC 9051 §6.4.4, RFC 7162 MODSEQ, RFC 5032 WITHIN, RFC 8474 OBJECTID,
// RFC 5182 `$`). Flags, dates, sizes, sequence and UID sets and modseqs come from the view
// (listMessages); header and body keys and sent dates go through content.ts, asked once per key
// over only the messages the cheap keys at the top level leave.

import type { MessageContent, MessageInfo } from '../../engine/api.js';
import { ok, type Result } from '../../engine/errors.js';
import { contentMatches, summariesOf, type ContentQuery, type ContentScope } from './content.js';
import { hasFlag } from './format.js';
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

function test(key: SearchKey, info: MessageInfo, seq: number, c: Context): boolean {
  switch (key.kind) {
    case 'all':
      return true;
    case 'and':
      return key.keys.every((k) => test(k, info, seq, c));
    case 'or':
      return test(key.left, info, seq, c) || test(key.right, info, seq, c);
    case 'not':
      return !test(key.key, info, seq, c);
    case 'flag':
      return hasFlag(info, key.flag) === key.set;
    // No \Recent in this server (RFC 9051 removed it): NEW and RECENT match nothing, OLD everything.
    case 'new':
    case 'recent':
      return false;
    case 'old':
      return true;
    case 'date':
      if (key.field === 'internal') return compareDay(dayOf(info.internalDateMs), key.op, key.date);
      {
        const envelope = c.summaries.get(info.uid)?.summary.envelope;
        if (envelope === undefined || envelope.dateMs === null) return false;
        return compareDay(dayOf(envelope.dateMs + (envelope.dateOffsetMinutes ?? 0) * 60_000), key.op, key.date);
      }
    case 'age': {
      const ageMs = c.nowMs - info.internalDateMs;
      return key.op === 'older' ? ageMs >= key.seconds * 1000 : ageMs <= key.seconds * 1000;
    }
    case 'header':
    case 'text':
      return c.content.get(key)?.has(info.uid) === true;
    case 'size':
      return key.op === 'larger' ? info.sizeBytes > key.bytes : info.sizeBytes < key.bytes;
    case 'sequence':
    case 'uid':
      return c.sets.get(key)?.has(info.uid) === true;
    case 'modseq':
      return BigInt(info.modseq) >= key.modseq;
    case 'emailid':
      return info.emailId === key.id;
    case 'threadid':
      return info.threadId === key.id;
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
  let candidates = view.uids.filter((uid) => !view.pendingExpunge.has(uid));
  if (needsContent) {
    // Narrow by the cheap conjuncts first, so content is read only where it can still matter.
    const conjuncts = key.kind === 'and' ? key.keys : [key];
    const cheap = conjuncts.filter((k) => !hasContentKey(k));
    candidates = candidates.filter((uid) => cheap.every((k) => test(k, view.infos.get(uid)!, view.seqOf(uid), c)));
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
  const uids = candidates.filter((uid) => test(key, view.infos.get(uid)!, view.seqOf(uid), c));
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
