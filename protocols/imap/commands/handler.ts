// The shape of a command handler (STYLE.md: `{ states, handle }` per verb) and the state sets.

import type { ImapSession } from '../session.js';
import type { Command, CommandKind } from '../wire/types.js';

export type SessionState = 'notAuthenticated' | 'authenticated' | 'selected' | 'logout';

/** The command type whose kind union holds K (several kinds share one shape, e.g. DELETE / SUBSCRIBE). */
export type CommandOf<K extends CommandKind> = Command extends infer C ? (C extends { kind: infer CK } ? (K extends CK ? C : never) : never) : never;

export interface Handler<K extends CommandKind> {
  readonly states: readonly SessionState[];
  handle(session: ImapSession, tag: string, command: CommandOf<K>): Promise<void>;
}

export const any: readonly SessionState[] = ['notAuthenticated', 'authenticated', 'selected'];
export const notAuthenticated: readonly SessionState[] = ['notAuthenticated'];
export const authenticated: readonly SessionState[] = ['authenticated', 'selected'];
export const authenticatedOnly: readonly SessionState[] = ['authenticated'];
export const selectedOnly: readonly SessionState[] = ['selected'];

export function handler<K extends CommandKind>(states: readonly SessionState[], handle: Handler<K>['handle']): Handler<K> {
  return { states, handle };
}

