// Group expansion, one piece of code for every directory (embedded and LDAP): depth-first
// over members; a group met twice (a loop or a diamond) is expanded once; users are
// de-duplicated; members that do not exist are skipped (stale `member` values are normal);
// nesting deeper than groupDepthMax or more than resolvedRecipientsMax users is LIMIT.
// Each implementation says how a member is looked up: a map read, or an LDAP read.

import { fail, ok, type Result } from '../errors.js';
import { groupDepthMax, resolvedRecipientsMax } from './constants.js';
import type { DirectoryUser } from './directory.js';

export type ExpansionNode =
  | { readonly kind: 'user'; readonly user: DirectoryUser }
  /** `key` identifies the group for loop detection (an address, a normalized DN). */
  | { readonly kind: 'group'; readonly key: string; readonly members: readonly string[] };

export interface ExpansionOptions {
  /** Looks a member up; null: skipped (no such entry, or not a recipient). May throw (LDAP down). */
  readonly look: (member: string) => Promise<ExpansionNode | null>;
  /** Members looked up at the same time (LDAP reads); 1 by default. */
  readonly parallelMax?: number;
  /** Member lookups allowed for one expansion; unlimited by default. */
  readonly looksMax?: number;
}

/** The users a group reaches; NO_SUCH_USER when none, LIMIT past a cap. */
export async function expandGroup(group: Extract<ExpansionNode, { kind: 'group' }>, options: ExpansionOptions): Promise<Result<DirectoryUser[]>> {
  const found = new Map<string, DirectoryUser>();
  const seen = new Set([group.key]);
  const budget = { looks: 0 };
  const expanded = await expandInto(group, 0, found, seen, budget, options);
  if (!expanded.ok) return expanded;
  if (found.size === 0) return fail('NO_SUCH_USER', `group ${group.key} has no members`);
  return ok([...found.values()]);
}

async function expandInto(
  group: Extract<ExpansionNode, { kind: 'group' }>,
  depth: number,
  found: Map<string, DirectoryUser>,
  seen: Set<string>,
  budget: { looks: number },
  options: ExpansionOptions,
): Promise<Result<void>> {
  if (depth >= groupDepthMax) return fail('LIMIT', `groups nested deeper than ${groupDepthMax} at ${group.key}`);
  budget.looks += group.members.length;
  if (options.looksMax !== undefined && budget.looks > options.looksMax) return fail('LIMIT', `expansion reads more than ${options.looksMax} entries`);
  const parallel = Math.max(1, options.parallelMax ?? 1);
  const nodes: Array<ExpansionNode | null> = [];
  for (let i = 0; i < group.members.length; i += parallel) {
    nodes.push(...(await Promise.all(group.members.slice(i, i + parallel).map(options.look))));
  }
  for (const node of nodes) {
    if (node === null) continue;
    if (node.kind === 'user') {
      found.set(node.user.address, node.user);
      if (found.size > resolvedRecipientsMax) return fail('LIMIT', `expansion reaches more than ${resolvedRecipientsMax} recipients`);
      continue;
    }
    if (seen.has(node.key)) continue;
    seen.add(node.key);
    const result = await expandInto(node, depth + 1, found, seen, budget, options);
    if (!result.ok) return result;
  }
  return ok(undefined);
}
