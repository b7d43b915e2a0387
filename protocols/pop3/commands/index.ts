// The POP3 verbs, one module each: the states a verb is valid in and its handler. Parsing is
// wire/parser.ts's (one grammar for the session, the tests and the fuzzer).

import type { MaildropMessage } from '../maildrop.js';
import { encodeMultiline } from '../wire/encoder.js';
import type { Pop3Command } from '../wire/parser.js';
import type { Pop3Session } from '../session.js';
import { apop } from './apop.js';
import { auth } from './auth.js';
import { capa } from './capa.js';
import { dele } from './dele.js';
import { list } from './list.js';
import { noop } from './noop.js';
import { pass } from './pass.js';
import { quit } from './quit.js';
import { retr } from './retr.js';
import { rset } from './rset.js';
import { stat } from './stat.js';
import { stls } from './stls.js';
import { top } from './top.js';
import { uidl } from './uidl.js';
import { user } from './user.js';

/** RFC 1939 sec. 3. UPDATE is QUIT's own work and takes no commands. */
export type Pop3State = 'authorization' | 'transaction';

export type Pop3Kind = Pop3Command['kind'];

/** The command type of one verb (LIST and UIDL, RETR and DELE share a shape in the parser). */
export type CommandOf<K extends Pop3Kind> = Pop3Command extends infer C ? (C extends { readonly kind: infer CK } ? (K extends CK ? C & { readonly kind: K } : never) : never) : never;

export interface Pop3CommandModule<K extends Pop3Kind> {
  readonly states: readonly Pop3State[];
  /** Answers the command; 'no' when it answered -ERR. */
  handle(session: Pop3Session, command: CommandOf<K>): Promise<'ok' | 'no'>;
}

export const commandModules: { readonly [K in Pop3Kind]: Pop3CommandModule<K> } = {
  USER: user,
  PASS: pass,
  APOP: apop,
  AUTH: auth,
  STLS: stls,
  CAPA: capa,
  STAT: stat,
  LIST: list,
  UIDL: uidl,
  RETR: retr,
  TOP: top,
  DELE: dele,
  NOOP: noop,
  RSET: rset,
  QUIT: quit,
};

/** The logged-in part of a session; only called in TRANSACTION, where it is always set. */
export function loggedIn(session: Pop3Session): NonNullable<Pop3Session['loggedIn']> {
  const state = session.loggedIn;
  if (state === null) throw new Error('TRANSACTION state without a login');
  return state;
}

/** "-ERR no such message" for a number that is out of range or marked deleted. */
export function noSuchMessage(session: Pop3Session, number: number): Promise<'no'> {
  const deleted = loggedIn(session).maildrop.isDeleted(number);
  return session.err(deleted ? `Message ${number} is marked deleted` : `No message ${number}`).then(() => 'no' as const);
}

/**
 * LIST and UIDL: with a message number, one "+OK number value" line for that live message;
 * without, a multi-line listing of every live message, one "number value" line each.
 */
export async function perMessageListing(session: Pop3Session, message: number | undefined, value: (m: MaildropMessage) => string | number, heading: () => string): Promise<'ok' | 'no'> {
  const { maildrop } = loggedIn(session);
  if (message !== undefined) {
    const found = maildrop.get(message);
    if (found === undefined) return noSuchMessage(session, message);
    await session.ok(`${found.number} ${value(found)}`);
    return 'ok';
  }
  await session.write(encodeMultiline(heading(), maildrop.live().map((m) => `${m.number} ${value(m)}`)));
  return 'ok';
}
