// Checks a content criterion against the search limits before any work is done.

import { type Failure, fail } from '../errors.js';
import { criteriaNodesMax, searchValueCharsMax } from './constants.js';
import type { ContentCriterion } from './types.js';

const leafKeys = new Set(['header', 'subject', 'from', 'to', 'cc', 'bcc', 'body', 'text']);

export function checkCriterion(criterion: ContentCriterion): Failure | null {
  let nodes = 0;
  const visit = (c: ContentCriterion, depth: number): Failure | null => {
    nodes += 1;
    if (nodes > criteriaNodesMax || depth > criteriaNodesMax) return fail('LIMIT', `more than ${criteriaNodesMax} search criteria`);
    if (typeof c !== 'object' || c === null) return fail('INVALID_ARGUMENT', 'bad search criterion');
    if (c.key === 'and' || c.key === 'or') {
      if (!Array.isArray(c.of)) return fail('INVALID_ARGUMENT', `${c.key} needs a list`);
      for (const child of c.of) {
        const problem = visit(child, depth + 1);
        if (problem !== null) return problem;
      }
      return null;
    }
    if (c.key === 'not') return visit(c.of, depth + 1);
    if (!leafKeys.has(c.key) || !('value' in c) || typeof c.value !== 'string') return fail('INVALID_ARGUMENT', `bad search key ${String((c as { key: unknown }).key)}`);
    if (c.key === 'header' && (typeof c.name !== 'string' || c.name.length === 0)) return fail('INVALID_ARGUMENT', 'HEADER needs a field name');
    if (c.value.length > searchValueCharsMax) return fail('LIMIT', `search string over ${searchValueCharsMax} characters`);
    return null;
  };
  return visit(criterion, 0);
}
