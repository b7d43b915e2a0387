// SEARCH (RFC 9051 §6.4.4), with ESEARCH RETURN options (RFC 4731), SEARCHRES `$` and SAVE
// (RFC 5182), MODSEQ (RFC 7162 §3.1.5), WITHIN OLDER/YOUNGER (RFC 5032), EMAILID/THREADID
// (RFC 8474). SORT and THREAD (RFC 5256) share the key grammar and live here too.
//
//   search          = "SEARCH" [search-return-opts] SP search-program
//   search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
//   search-program  = ["CHARSET" SP charset SP] search-key *(SP search-key)
//   search-key      = "ALL" / "ANSWERED" / "BCC" SP astring / ... / "NOT" SP search-key /
//                     "OR" SP search-key SP search-key / sequence-set / "(" search-key *(SP search-key) ")"
//   sort            = ["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP charset 1*(SP search-key)
//   sort-criteria   = "(" sort-criterion *(SP sort-criterion) ")"
//   sort-criterion  = ["REVERSE" SP] sort-key
//   thread          = ["UID" SP] "THREAD" SP thread-alg SP charset 1*(SP search-key)

import type { Reader } from '../reader.js';
import type { Command, SearchKey, SearchReturnOption, SortCriterion, SortKey } from '../types.js';

const returnOptions: readonly SearchReturnOption[] = ['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE'];
const sortKeys: readonly SortKey[] = ['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO'];

const flagKeys: Readonly<Record<string, readonly [string, boolean]>> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
};

const headerKeys: Readonly<Record<string, string>> = { BCC: 'Bcc', CC: 'Cc', FROM: 'From', SUBJECT: 'Subject', TO: 'To' };

const dateKeys: Readonly<Record<string, readonly ['internal' | 'sent', 'before' | 'on' | 'since']>> = {
  BEFORE: ['internal', 'before'],
  ON: ['internal', 'on'],
  SINCE: ['internal', 'since'],
  SENTBEFORE: ['sent', 'before'],
  SENTON: ['sent', 'on'],
  SENTSINCE: ['sent', 'since'],
};

/** Leading `SP RETURN (...)`, if present. Consumes the leading SP only when RETURN follows. */
export function parseReturnOptions(r: Reader): SearchReturnOption[] | undefined {
  const save = r.pos;
  if (!r.trySp() || !r.tryWord('RETURN')) {
    r.pos = save;
    return undefined;
  }
  r.sp();
  const options = r.list(() => {
    const option = r.atom().toUpperCase() as SearchReturnOption;
    if (!returnOptions.includes(option)) r.fail(`Unknown RETURN option ${option}`);
    return option;
  }, true);
  return [...new Set(options)];
}

export function parseSearch(r: Reader, uid: boolean): Command {
  const returns = parseReturnOptions(r);
  r.sp();
  let charset: string | undefined;
  if (r.tryWord('CHARSET')) {
    r.sp();
    charset = r.astring();
    r.sp();
  }
  const key = parseSearchProgram(r);
  return { kind: 'SEARCH', uid, charset, returnOptions: returns, key };
}

export function parseSort(r: Reader, uid: boolean): Command {
  const returns = parseReturnOptions(r);
  r.sp();
  const criteria: SortCriterion[] = r.list(() => {
    const reverse = r.tryWord('REVERSE');
    if (reverse) r.sp();
    const key = r.atom().toUpperCase() as SortKey;
    if (!sortKeys.includes(key)) r.fail(`Unknown sort key ${key}`);
    return { key, reverse };
  }, false);
  r.sp();
  const charset = r.astring();
  r.sp();
  const key = parseSearchProgram(r);
  return { kind: 'SORT', uid, criteria, charset, returnOptions: returns, key };
}

export function parseThread(r: Reader, uid: boolean): Command {
  r.sp();
  const algorithm = r.atom().toUpperCase();
  r.sp();
  const charset = r.astring();
  r.sp();
  const key = parseSearchProgram(r);
  return { kind: 'THREAD', uid, algorithm, charset, key };
}

/** search-key *(SP search-key) up to the end of the command; several keys AND together. */
export function parseSearchProgram(r: Reader): SearchKey {
  const keys: SearchKey[] = [parseSearchKey(r)];
  while (r.trySp()) keys.push(parseSearchKey(r));
  r.expectEnd();
  return keys.length === 1 ? keys[0]! : { kind: 'and', keys };
}

export function parseSearchKey(r: Reader): SearchKey {
  const c = r.peek();
  if (c === 0x28 /* ( */) {
    r.enter();
    const keys = r.list(() => parseSearchKey(r), false);
    r.leave();
    return keys.length === 1 ? keys[0]! : { kind: 'and', keys };
  }
  if ((c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24) return { kind: 'sequence', set: r.sequenceSet() };

  const name = r.atom().toUpperCase();
  const flag = flagKeys[name];
  if (flag !== undefined) return { kind: 'flag', flag: flag[0], set: flag[1] };
  const header = headerKeys[name];
  if (header !== undefined) {
    r.sp();
    return { kind: 'header', field: header, value: r.astring() };
  }
  const dateKey = dateKeys[name];
  if (dateKey !== undefined) {
    r.sp();
    return { kind: 'date', field: dateKey[0], op: dateKey[1], date: r.date() };
  }
  switch (name) {
    case 'ALL':
      return { kind: 'all' };
    case 'NEW':
      return { kind: 'new' };
    case 'OLD':
      return { kind: 'old' };
    case 'RECENT':
      return { kind: 'recent' };
    case 'UNRECENT': // not in the RFC grammar but sent by old clients; it is OLD
      return { kind: 'old' };
    case 'KEYWORD':
    case 'UNKEYWORD': {
      r.sp();
      return { kind: 'flag', flag: r.atom(), set: name === 'KEYWORD' };
    }
    case 'HEADER': {
      r.sp();
      const field = r.astring();
      r.sp();
      return { kind: 'header', field, value: r.astring() };
    }
    case 'BODY':
    case 'TEXT': {
      r.sp();
      return { kind: 'text', where: name === 'BODY' ? 'body' : 'text', value: r.astring() };
    }
    case 'LARGER':
    case 'SMALLER': {
      r.sp();
      const bytes = r.number64();
      // Sizes beyond 2^53 behave like "infinitely large": the comparison result is the same.
      const clamped = bytes > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(bytes);
      return { kind: 'size', op: name === 'LARGER' ? 'larger' : 'smaller', bytes: clamped };
    }
    case 'OLDER':
    case 'YOUNGER': {
      r.sp();
      return { kind: 'age', op: name === 'OLDER' ? 'older' : 'younger', seconds: r.nzNumber() };
    }
    case 'UID': {
      r.sp();
      return { kind: 'uid', set: r.sequenceSet() };
    }
    case 'NOT': {
      r.sp();
      r.enter();
      const key = parseSearchKey(r);
      r.leave();
      return { kind: 'not', key };
    }
    case 'OR': {
      r.sp();
      r.enter();
      const left = parseSearchKey(r);
      r.sp();
      const right = parseSearchKey(r);
      r.leave();
      return { kind: 'or', left, right };
    }
    case 'MODSEQ':
      return parseModseqKey(r);
    case 'EMAILID':
    case 'THREADID': {
      r.sp();
      const id = r.atom();
      return name === 'EMAILID' ? { kind: 'emailid', id } : { kind: 'threadid', id };
    }
    default:
      return r.fail(`Unknown search key ${name}`);
  }
}

/** search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer (RFC 7162 §7). */
function parseModseqKey(r: Reader): SearchKey {
  r.sp();
  let entry: { name: string; type: 'priv' | 'shared' | 'all' } | undefined;
  if (r.peek() === 0x22 /* " */) {
    const name = r.string();
    r.sp();
    const type = r.atom().toLowerCase();
    if (type !== 'priv' && type !== 'shared' && type !== 'all') r.fail('Bad MODSEQ entry type');
    entry = { name, type };
    r.sp();
  }
  return { kind: 'modseq', modseq: r.number64(), entry };
}
