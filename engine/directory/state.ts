// The embedded directory's events and the state they build. Leaf functions are pure over
// the state: check an event against the state (returning what is wrong, as a sentence),
// then apply it. The same `check` runs before an event is written and again when it is
// read back at replay, so a log that does not fit together is refused, not half-applied.
// Destructive events carry what they destroy (the mailbox id, the aliases, the members)
// and replay checks that they match.

import { assert } from '../assert.js';
import type { DirectoryGroup, DirectoryUser } from './directory.js';

export interface StoredUser extends DirectoryUser {
  readonly passwordHash: string;
}

export type DirectoryEvent =
  | { readonly type: 'domain.add'; readonly name: string }
  | { readonly type: 'user.add'; readonly user: StoredUser }
  | { readonly type: 'user.remove'; readonly address: string; readonly mailboxId: string; readonly aliases: readonly string[] }
  | { readonly type: 'user.password'; readonly address: string; readonly passwordHash: string }
  | { readonly type: 'user.quota'; readonly address: string; readonly quotaBytes: number | null }
  | { readonly type: 'user.database'; readonly address: string; readonly mailboxId: string; readonly database: string }
  | { readonly type: 'alias.add'; readonly alias: string; readonly address: string }
  | { readonly type: 'alias.remove'; readonly alias: string; readonly address: string }
  | { readonly type: 'group.add'; readonly address: string; readonly members: readonly string[] }
  | { readonly type: 'group.remove'; readonly address: string; readonly members: readonly string[] };

export interface DirectoryState {
  readonly domains: Set<string>;
  /** Keyed by primary address. `aliases` inside each user is kept in step with `aliases` below. */
  readonly users: Map<string, StoredUser>;
  /** alias -> primary address */
  readonly aliases: Map<string, string>;
  /** group address -> members */
  readonly groups: Map<string, readonly string[]>;
  /** Bumped by every change event; snapshot records do not bump it. */
  version: number;
}

export function emptyState(version = 0): DirectoryState {
  return { domains: new Set(), users: new Map(), aliases: new Map(), groups: new Map(), version };
}

/** Users, aliases and groups share one namespace, as recipients do in SMTP. */
export function addressTaken(state: DirectoryState, address: string): 'user' | 'alias' | 'group' | null {
  if (state.users.has(address)) return 'user';
  if (state.aliases.has(address)) return 'alias';
  if (state.groups.has(address)) return 'group';
  return null;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

/** null when `event` fits `state`, else why not. */
export function checkEvent(state: DirectoryState, event: DirectoryEvent): string | null {
  switch (event.type) {
    case 'domain.add':
      return state.domains.has(event.name) ? `domain ${event.name} already exists` : null;
    case 'user.add': {
      const taken = addressTaken(state, event.user.address);
      if (taken !== null) return `${event.user.address} already exists as a ${taken}`;
      if (!state.domains.has(domainOf(event.user.address))) return `domain of ${event.user.address} is not accepted`;
      if (event.user.aliases.length !== 0) return 'a new user has no aliases yet';
      for (const user of state.users.values()) {
        if (user.mailboxId === event.user.mailboxId) return `mailbox id ${event.user.mailboxId} is already used by ${user.address}`;
      }
      return null;
    }
    case 'user.remove': {
      const user = state.users.get(event.address);
      if (user === undefined) return `no user ${event.address}`;
      if (user.mailboxId !== event.mailboxId) return `${event.address} has mailbox ${user.mailboxId}, not ${event.mailboxId}`;
      if (!sameList(user.aliases, event.aliases)) return `${event.address} has other aliases than the event names`;
      return null;
    }
    case 'user.database': {
      const user = state.users.get(event.address);
      if (user === undefined) return `no user ${event.address}`;
      return user.mailboxId === event.mailboxId ? null : `${event.address} has mailbox ${user.mailboxId}, not ${event.mailboxId}`;
    }
    case 'user.password':
    case 'user.quota':
      return state.users.has(event.address) ? null : `no user ${event.address}`;
    case 'alias.add': {
      const taken = addressTaken(state, event.alias);
      if (taken !== null) return `${event.alias} already exists as a ${taken}`;
      if (!state.domains.has(domainOf(event.alias))) return `domain of ${event.alias} is not accepted`;
      return state.users.has(event.address) ? null : `no user ${event.address}`;
    }
    case 'alias.remove': {
      const target = state.aliases.get(event.alias);
      if (target === undefined) return `no alias ${event.alias}`;
      return target === event.address ? null : `alias ${event.alias} points to ${target}, not ${event.address}`;
    }
    case 'group.add': {
      const taken = addressTaken(state, event.address);
      if (taken !== null) return `${event.address} already exists as a ${taken}`;
      if (!state.domains.has(domainOf(event.address))) return `domain of ${event.address} is not accepted`;
      return null;
    }
    case 'group.remove': {
      const members = state.groups.get(event.address);
      if (members === undefined) return `no group ${event.address}`;
      return sameList(members, event.members) ? null : `group ${event.address} has other members than the event names`;
    }
  }
}

/** Applies a checked event. Mutates `state` (the maps are the materialized view). */
export function applyEvent(state: DirectoryState, event: DirectoryEvent): void {
  assert(checkEvent(state, event) === null, `applying an unchecked event ${event.type}`);
  switch (event.type) {
    case 'domain.add':
      state.domains.add(event.name);
      return;
    case 'user.add':
      state.users.set(event.user.address, event.user);
      return;
    case 'user.remove':
      for (const alias of event.aliases) state.aliases.delete(alias);
      state.users.delete(event.address);
      return;
    case 'user.password': {
      const user = state.users.get(event.address)!;
      state.users.set(event.address, { ...user, passwordHash: event.passwordHash });
      return;
    }
    case 'user.database': {
      const user = state.users.get(event.address)!;
      state.users.set(event.address, { ...user, database: event.database });
      return;
    }
    case 'user.quota': {
      const user = state.users.get(event.address)!;
      state.users.set(event.address, { ...user, quotaBytes: event.quotaBytes });
      return;
    }
    case 'alias.add': {
      const user = state.users.get(event.address)!;
      state.aliases.set(event.alias, event.address);
      state.users.set(event.address, { ...user, aliases: [...user.aliases, event.alias].sort() });
      return;
    }
    case 'alias.remove': {
      const user = state.users.get(event.address)!;
      state.aliases.delete(event.alias);
      state.users.set(event.address, { ...user, aliases: user.aliases.filter((a) => a !== event.alias) });
      return;
    }
    case 'group.add':
      state.groups.set(event.address, event.members);
      return;
    case 'group.remove':
      state.groups.delete(event.address);
      return;
  }
}

/**
 * The events that rebuild `state` from empty: what compaction writes. A user is written
 * without aliases (user.add requires none) and its aliases follow as alias.add events.
 */
export function snapshotEvents(state: DirectoryState): DirectoryEvent[] {
  const events: DirectoryEvent[] = [];
  for (const name of [...state.domains].sort()) events.push({ type: 'domain.add', name });
  for (const user of state.users.values()) events.push({ type: 'user.add', user: { ...user, aliases: [] } });
  for (const [alias, address] of state.aliases) events.push({ type: 'alias.add', alias, address });
  for (const [address, members] of state.groups) events.push({ type: 'group.add', address, members });
  return events;
}

export function entityCount(state: DirectoryState): number {
  return state.domains.size + state.users.size + state.aliases.size + state.groups.size;
}

export function publicUser(user: StoredUser): DirectoryUser {
  return {
    address: user.address,
    mailboxId: user.mailboxId,
    database: user.database,
    quotaBytes: user.quotaBytes,
    displayName: user.displayName,
    aliases: [...user.aliases],
    createdAtMs: user.createdAtMs,
  };
}

export function publicGroup(address: string, members: readonly string[]): DirectoryGroup {
  return { address, members: [...members] };
}
