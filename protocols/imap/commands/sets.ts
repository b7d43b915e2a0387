// Membership of a number in a sequence set as written (for UIDs a view no longer holds, e.g.
// QRESYNC known-uids and VANISHED (EARLIER) ranges).

import type { SequenceSet } from '../wire/types.js';

/** True when `n` lies in one of the ranges; `*` stands for `max`. The saved set `$` matches nothing here. */
export function inSequenceSet(set: SequenceSet, n: number, max: number): boolean {
  if (set.kind === 'saved') return false;
  for (const range of set.ranges) {
    const a = range.start === '*' ? max : range.start;
    const b = range.end === '*' ? max : range.end;
    if (n >= Math.min(a, b) && n <= Math.max(a, b)) return true;
  }
  return false;
}
