// Command units (from the decoder) to typed commands. Each grammar with any shape lives in
// commands/<verb>.ts; the argument-less and one-argument commands are here. A grammar
// violation is a ParseError value (code + text + tag) for a tagged BAD; no exception escapes.

import { aclIdentifierBytesMax, aclRightsBytesMax, defaultWireLimits, idFieldBytesMax, idPairsMax, idValueBytesMax, type WireLimits } from './constants.js';
import type { CommandUnit } from './decoder.js';
import { ParseFail, Reader, type ParseErrorCode, type ParseOptions } from './reader.js';
import type { Command, CommandKind } from './types.js';
import { parseAppend } from './commands/append.js';
import { parseFetch } from './commands/fetch.js';
import { parseList, parseLsub } from './commands/list.js';
import { parseSearch, parseSort, parseThread } from './commands/search.js';
import { parseSelect } from './commands/select.js';
import { parseStatus } from './commands/status.js';
import { parseStore } from './commands/store.js';

export type { ParseErrorCode } from './reader.js';

export interface ParseError {
  readonly code: ParseErrorCode;
  readonly tag: string;
  /** The command name as the decoder read it (upper case). */
  readonly name: string;
  readonly text: string;
}

export type ParseResult =
  | { readonly ok: true; readonly tag: string; readonly command: Command }
  | { readonly ok: false; readonly error: ParseError };

export interface ParserOptions {
  /** UTF8=ACCEPT enabled or IMAP4rev2 in use: mailbox names on the wire are UTF-8. */
  readonly utf8Mailboxes?: boolean;
  readonly limits?: WireLimits;
}

type Grammar = (r: Reader) => Command;

function bare(kind: 'CAPABILITY' | 'NOOP' | 'LOGOUT' | 'STARTTLS' | 'CHECK' | 'CLOSE' | 'UNSELECT' | 'EXPUNGE' | 'IDLE' | 'NAMESPACE'): Grammar {
  return (r) => {
    r.expectEnd();
    return { kind };
  };
}

function oneMailbox(kind: 'DELETE' | 'SUBSCRIBE' | 'UNSUBSCRIBE' | 'GETACL' | 'MYRIGHTS'): Grammar {
  return (r) => {
    r.sp();
    const mailbox = r.mailbox();
    r.expectEnd();
    return { kind, mailbox };
  };
}

function mailboxAndIdentifier(kind: 'DELETEACL' | 'LISTRIGHTS'): Grammar {
  return (r) => {
    r.sp();
    const mailbox = r.mailbox();
    r.sp();
    const identifier = aclIdentifier(r);
    r.expectEnd();
    return { kind, mailbox, identifier };
  };
}

/** RFC 4314 identifier: an astring of at most aclIdentifierBytesMax octets. */
function aclIdentifier(r: Reader): string {
  const identifier = r.astring();
  if (Buffer.byteLength(identifier) > aclIdentifierBytesMax) r.fail(`ACL identifier longer than ${aclIdentifierBytesMax} bytes`);
  return identifier;
}

/** Commands allowed after `UID`. */
const uidGrammars: Readonly<Record<string, (r: Reader) => Command>> = {
  FETCH: (r) => parseFetch(r, true),
  STORE: (r) => parseStore(r, true),
  SEARCH: (r) => parseSearch(r, true),
  SORT: (r) => parseSort(r, true),
  THREAD: (r) => parseThread(r, true),
  COPY: (r) => parseCopyMove(r, 'COPY', true),
  MOVE: (r) => parseCopyMove(r, 'MOVE', true),
  EXPUNGE: (r) => {
    r.sp();
    const uids = r.sequenceSet();
    r.expectEnd();
    return { kind: 'UID EXPUNGE', uids };
  },
};

const grammars: Readonly<Record<string, Grammar>> = {
  CAPABILITY: bare('CAPABILITY'),
  NOOP: bare('NOOP'),
  LOGOUT: bare('LOGOUT'),
  STARTTLS: bare('STARTTLS'),
  CHECK: bare('CHECK'),
  CLOSE: bare('CLOSE'),
  UNSELECT: bare('UNSELECT'),
  EXPUNGE: bare('EXPUNGE'),
  IDLE: bare('IDLE'),
  NAMESPACE: bare('NAMESPACE'),
  AUTHENTICATE: parseAuthenticate,
  LOGIN: (r) => {
    r.sp();
    const userid = r.astring();
    r.sp();
    const password = r.astring();
    r.expectEnd();
    return { kind: 'LOGIN', userid, password };
  },
  ENABLE: (r) => {
    const capabilities: string[] = [];
    do {
      r.sp();
      capabilities.push(r.atom().toUpperCase());
    } while (!r.atEnd());
    return { kind: 'ENABLE', capabilities };
  },
  SELECT: (r) => parseSelect(r, 'SELECT'),
  EXAMINE: (r) => parseSelect(r, 'EXAMINE'),
  CREATE: parseCreate,
  DELETE: oneMailbox('DELETE'),
  SUBSCRIBE: oneMailbox('SUBSCRIBE'),
  UNSUBSCRIBE: oneMailbox('UNSUBSCRIBE'),
  RENAME: (r) => {
    r.sp();
    const from = r.mailbox();
    r.sp();
    const to = r.mailbox();
    r.expectEnd();
    return { kind: 'RENAME', from, to };
  },
  LIST: parseList,
  LSUB: parseLsub,
  STATUS: parseStatus,
  APPEND: parseAppend,
  SEARCH: (r) => parseSearch(r, false),
  FETCH: (r) => parseFetch(r, false),
  STORE: (r) => parseStore(r, false),
  COPY: (r) => parseCopyMove(r, 'COPY', false),
  MOVE: (r) => parseCopyMove(r, 'MOVE', false),
  SORT: (r) => parseSort(r, false),
  THREAD: (r) => parseThread(r, false),
  UID: (r) => {
    r.sp();
    const sub = r.atom().toUpperCase();
    const grammar = uidGrammars[sub];
    if (grammar === undefined) return r.fail(`UID ${sub} is not a command`, 'unknown-command');
    return grammar(r);
  },
  GETQUOTA: (r) => {
    r.sp();
    const root = r.astring();
    r.expectEnd();
    return { kind: 'GETQUOTA', root };
  },
  GETQUOTAROOT: (r) => {
    r.sp();
    const mailbox = r.mailbox();
    r.expectEnd();
    return { kind: 'GETQUOTAROOT', mailbox };
  },
  SETQUOTA: parseSetQuota,
  ID: parseId,
  COMPRESS: (r) => {
    r.sp();
    const mechanism = r.atom().toUpperCase();
    r.expectEnd();
    return { kind: 'COMPRESS', mechanism };
  },
  GETACL: oneMailbox('GETACL'),
  MYRIGHTS: oneMailbox('MYRIGHTS'),
  SETACL: (r) => {
    r.sp();
    const mailbox = r.mailbox();
    r.sp();
    const identifier = aclIdentifier(r);
    r.sp();
    const rights = r.astring();
    if (Buffer.byteLength(rights) > aclRightsBytesMax) r.fail(`ACL rights longer than ${aclRightsBytesMax} bytes`);
    r.expectEnd();
    return { kind: 'SETACL', mailbox, identifier, rights };
  },
  DELETEACL: mailboxAndIdentifier('DELETEACL'),
  LISTRIGHTS: mailboxAndIdentifier('LISTRIGHTS'),
};

/** Every command name the parser knows (UID sub-commands listed as `UID X`). */
export const parsedCommandNames: readonly string[] = [
  ...Object.keys(grammars).filter((n) => n !== 'UID'),
  ...Object.keys(uidGrammars).map((n) => `UID ${n}`),
];

export function parseCommand(unit: CommandUnit, options: ParserOptions = {}): ParseResult {
  const readerOptions: ParseOptions = {
    utf8Mailboxes: options.utf8Mailboxes ?? false,
    limits: options.limits ?? defaultWireLimits,
  };
  const grammar = grammars[unit.name];
  if (grammar === undefined) {
    return { ok: false, error: { code: 'unknown-command', tag: unit.tag, name: unit.name, text: `Unknown command ${unit.name}` } };
  }
  // The decoder strips `name SP`; put the SP back so every grammar starts at its own SP.
  const args = new Uint8Array(unit.args.length + (unit.args.length > 0 ? 1 : 0));
  if (unit.args.length > 0) {
    args[0] = 0x20;
    args.set(unit.args, 1);
  }
  const reader = new Reader(args, readerOptions);
  try {
    return { ok: true, tag: unit.tag, command: grammar(reader) };
  } catch (e) {
    if (e instanceof ParseFail) return { ok: false, error: { code: e.code, tag: unit.tag, name: unit.name, text: e.text } };
    throw e; // a bug in a grammar, not bad input: let it be loud
  }
}

/** The kind a successfully parsed command will have, for state checks before parsing (e.g. before `+` for a literal). */
export function commandKindOf(name: string, firstArgWord?: string): CommandKind | undefined {
  if (name === 'UID') {
    const sub = (firstArgWord ?? '').toUpperCase();
    if (sub === 'EXPUNGE') return 'UID EXPUNGE';
    return uidGrammars[sub] === undefined ? undefined : (sub as CommandKind);
  }
  return grammars[name] === undefined ? undefined : (name as CommandKind);
}

function parseCopyMove(r: Reader, kind: 'COPY' | 'MOVE', uid: boolean): Command {
  r.sp();
  const sequenceSet = r.sequenceSet();
  r.sp();
  const mailbox = r.mailbox();
  r.expectEnd();
  return { kind, uid, sequenceSet, mailbox };
}

/** authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]; initial-resp = base64 / "=" (RFC 4959). */
function parseAuthenticate(r: Reader): Command {
  r.sp();
  const mechanism = r.atom().toUpperCase();
  let initialResponse: Uint8Array | undefined;
  if (r.trySp()) {
    if (r.tryByte(0x3d /* = */)) initialResponse = new Uint8Array(0);
    else initialResponse = readBase64(r);
  }
  r.expectEnd();
  return { kind: 'AUTHENTICATE', mechanism, initialResponse };
}

/** base64 = *(4base64-char) [base64-terminal]; strict, so that one encoding means one value. */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  return new Uint8Array(bytes);
}

function readBase64(r: Reader): Uint8Array {
  const start = r.pos;
  while (!r.atEnd() && r.peek() !== 0x20) r.pos++;
  const text = Buffer.from(r.bytes.subarray(start, r.pos)).toString('latin1');
  const decoded = decodeBase64Strict(text);
  if (decoded === undefined) r.fail('Bad base64 initial response');
  return decoded;
}

/** create = "CREATE" SP mailbox [create-params]; create-param "USE" SP "(" use-attr *(SP use-attr) ")" (RFC 6154). */
function parseCreate(r: Reader): Command {
  r.sp();
  const mailbox = r.mailbox();
  let specialUse: string[] = [];
  if (r.trySp()) {
    r.list(() => {
      r.word('USE');
      r.sp();
      specialUse = r.list(() => {
        r.expect(0x5c /* \ */);
        return '\\' + r.atom();
      }, true);
    }, false);
  }
  r.expectEnd();
  return { kind: 'CREATE', mailbox, specialUse };
}

/** setquota = "SETQUOTA" SP quota-root-name SP setquota-list; setquota-list = "(" [resource SP number *(SP ...)] ")" (RFC 9208). */
function parseSetQuota(r: Reader): Command {
  r.sp();
  const root = r.astring();
  r.sp();
  r.expect(0x28);
  const limits: { resource: string; limit: number }[] = [];
  if (!r.tryByte(0x29)) {
    for (;;) {
      const resource = r.atom().toUpperCase();
      r.sp();
      const limit = r.number64();
      limits.push({ resource, limit: limit > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(limit) });
      if (r.tryByte(0x29)) break;
      r.sp();
    }
  }
  r.expectEnd();
  return { kind: 'SETQUOTA', root, limits };
}

/** id = "ID" SP id-params-list; id-params-list = "(" *(string SP nstring) ")" / NIL (RFC 2971). */
function parseId(r: Reader): Command {
  r.sp();
  if (r.tryWord('NIL')) {
    r.expectEnd();
    return { kind: 'ID', params: null };
  }
  const params: [string, string | null][] = [];
  r.expect(0x28);
  if (!r.tryByte(0x29)) {
    for (;;) {
      const field = r.string();
      r.sp();
      const value = r.nstring();
      if (Buffer.byteLength(field) > idFieldBytesMax) r.fail('ID field name too long');
      if (value !== null && Buffer.byteLength(value) > idValueBytesMax) r.fail('ID value too long');
      params.push([field, value]);
      if (params.length > idPairsMax) r.fail('Too many ID fields');
      if (r.tryByte(0x29)) break;
      r.sp();
    }
  }
  r.expectEnd();
  return { kind: 'ID', params };
}
