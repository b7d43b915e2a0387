// JMAP core (RFC 8620): the limits advertised in the session resource, the request object's
// checks (sec. 3.3), result references (3.7), method-level errors (3.6.2) and the method
// dispatch. Methods are plain async functions from arguments to a response; each throws a
// MethodError for an expected failure.

import type { Account, FrontEndContext } from '../../frontend.js';
import type { AccountView } from './account.js';

export const capabilityCore = 'urn:ietf:params:jmap:core';
export const capabilityMail = 'urn:ietf:params:jmap:mail';
export const capabilitySubmission = 'urn:ietf:params:jmap:submission';
export const capabilityVacation = 'urn:ietf:params:jmap:vacationresponse';

/**
 * The limits of urn:ietf:params:jmap:core, advertised in the session and enforced. The upload
 * limit is not here: it is the server's message size limit (FrontEndLimits.messageBytesMax).
 */
export const jmapLimits = {
  maxConcurrentUpload: 4,
  maxSizeRequest: 10 * 1024 * 1024,
  maxConcurrentRequests: 4,
  maxCallsInRequest: 32,
  maxObjectsInGet: 500,
  maxObjectsInSet: 500,
  collationAlgorithms: ['i;ascii-casemap', 'i;unicode-casemap'],
} as const;

/** Uploaded blobs kept per account, and how long (RFC 8620 6.1 says at least an hour). */
export const uploadsPerAccountMax = 64;
export const uploadTtlMs = 60 * 60_000;
/** Email/get bodyValues: the longest value without maxBodyValueBytes. */
export const bodyValueBytesDefault = 256 * 1024;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Args = Record<string, any>;

/** A method-level error (RFC 8620 3.6.2, RFC 8621): answered as ["error", {type, description}, callId]. */
export class MethodError extends Error {
  constructor(readonly type: string, description: string, readonly extra: Record<string, unknown> = {}) {
    super(description);
  }
}

/** A request-level problem (RFC 8620 3.6.1), answered as application/problem+json. */
export class RequestProblem extends Error {
  constructor(readonly type: string, readonly status: number, detail: string, readonly limit?: string) {
    super(detail);
  }
  body(): Record<string, unknown> {
    return { type: `urn:ietf:params:jmap:error:${this.type}`, status: this.status, detail: this.message, ...(this.limit === undefined ? {} : { limit: this.limit }) };
  }
}

export interface MethodContext {
  readonly account: Account;
  readonly accountId: string;
  readonly view: AccountView;
  /** Creation ids of this request ("#k1" references) to the real ids. */
  readonly createdIds: Map<string, string>;
  /** The server's context (documents, mail flow, directory lookups). */
  readonly frontEnd: FrontEndContext;
  /** The client's IP address (the Received header of what it submits). */
  readonly clientAddress: string;
}

export type Method = (args: Args, context: MethodContext) => Promise<Args | Array<[string, Args]>>;

/** Checks the accountId argument (every mail method has one). */
export function checkAccount(args: Args, context: MethodContext): void {
  if (typeof args.accountId !== 'string') throw new MethodError('invalidArguments', 'accountId is required');
  if (args.accountId !== context.accountId) throw new MethodError('accountNotFound', `no account ${args.accountId}`);
}

/** checkAccount for the user's own account only (Identity, EmailSubmission, VacationResponse: a shared account has none). */
export function checkOwnAccount(args: Args, context: MethodContext): void {
  checkAccount(args, context);
  if (context.accountId !== context.account.mailboxId) throw new MethodError('accountNotSupportedByMethod', `${args.accountId} is a shared account`);
}

/** A list argument of ids, with `#creationId` references resolved. */
export function idList(value: unknown, name: string, context: MethodContext, max: number): string[] | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new MethodError('invalidArguments', `${name} must be a list of ids`);
  if (value.length > max) throw new MethodError('requestTooLarge', `${name} has ${value.length} ids (at most ${max})`);
  return value.map((id: string) => resolveId(id, context));
}

export function resolveId(id: string, context: MethodContext): string {
  if (!id.startsWith('#')) return id;
  return context.createdIds.get(id.slice(1)) ?? id;
}

/** The start of a /set or /import (RFC 8620 5.3): account, ifInState, and the old state. */
export async function checkState(args: Args, context: MethodContext): Promise<string> {
  checkAccount(args, context);
  const oldState = await context.view.state();
  if (args.ifInState !== undefined && args.ifInState !== null && args.ifInState !== oldState) throw new MethodError('stateMismatch', 'ifInState does not match');
  return oldState;
}

/** A /set's arguments split and counted against maxObjectsInSet. */
export function setArguments(args: Args): { creates: Array<[string, Args]>; updates: Array<[string, Args]>; destroys: string[] } {
  const creates = Object.entries((args.create ?? {}) as Record<string, Args>);
  const updates = Object.entries((args.update ?? {}) as Record<string, Args>);
  const destroys = (args.destroy ?? []) as string[];
  if (!Array.isArray(destroys)) throw new MethodError('invalidArguments', 'destroy must be a list of ids');
  if (creates.length + updates.length + destroys.length > jmapLimits.maxObjectsInSet) throw new MethodError('requestTooLarge', `at most ${jmapLimits.maxObjectsInSet} objects`);
  return { creates, updates, destroys };
}

/** A /set response to fill: put(key, id, value) into created/updated/notCreated/...; refused() files a MethodError as a SetError. */
export function setResponse(accountId: string, oldState: string) {
  const out: Args = { accountId, oldState, created: null, updated: null, destroyed: null, notCreated: null, notUpdated: null, notDestroyed: null };
  const put = (key: string, id: string, value: unknown) => ((out[key] ??= {})[id] = value);
  const refused = (key: string, id: string, error: unknown) => {
    if (!(error instanceof MethodError) || error.type === 'serverUnavailable') throw error;
    put(key, id, { type: error.type, description: error.message, ...error.extra });
  };
  return { out, put, refused };
}

/** The start of a mail /set: arguments, ifInState against the mailbox state, the response to fill. */
export async function beginSet(args: Args, context: MethodContext) {
  const oldState = await checkState(args, context);
  return { ...setArguments(args), ...setResponse(context.accountId, oldState) };
}

// ---- result references (RFC 8620 3.7) ----

/** RFC 6901 JSON pointer evaluation with JMAP's `*` (map over an array, flattening arrays). */
export function evaluatePointer(value: unknown, path: string): unknown {
  if (path === '') return value;
  if (!path.startsWith('/')) throw new MethodError('invalidResultReference', `bad path ${path}`);
  const tokens = path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  const walk = (current: unknown, index: number): unknown => {
    if (index === tokens.length) return current;
    const token = tokens[index]!;
    if (Array.isArray(current)) {
      if (token === '*') {
        const out: unknown[] = [];
        for (const item of current) {
          const got = walk(item, index + 1);
          if (Array.isArray(got)) out.push(...got);
          else out.push(got);
        }
        return out;
      }
      if (!/^\d+$/.test(token) || Number(token) >= current.length) throw new MethodError('invalidResultReference', `path ${path} does not resolve`);
      return walk(current[Number(token)], index + 1);
    }
    if (current !== null && typeof current === 'object' && Object.prototype.hasOwnProperty.call(current, token)) return walk((current as Record<string, unknown>)[token], index + 1);
    throw new MethodError('invalidResultReference', `path ${path} does not resolve`);
  };
  return walk(value, 0);
}

/** Replaces every `#name` argument by the referenced result; answers the resolved arguments. */
export function resolveReferences(args: Args, responses: ReadonlyArray<[string, Args, string]>): Args {
  const out: Args = {};
  for (const [key, value] of Object.entries(args)) {
    if (!key.startsWith('#')) continue;
    const name = key.slice(1);
    if (Object.prototype.hasOwnProperty.call(args, name)) throw new MethodError('invalidArguments', `both ${name} and #${name} given`);
    const ref = value as { resultOf?: unknown; name?: unknown; path?: unknown };
    if (typeof ref?.resultOf !== 'string' || typeof ref.name !== 'string' || typeof ref.path !== 'string') throw new MethodError('invalidResultReference', `#${name} is not a result reference`);
    const source = responses.find(([method, , callId]) => callId === ref.resultOf && method === ref.name);
    if (source === undefined) throw new MethodError('invalidResultReference', `no ${ref.name} response with id ${ref.resultOf}`);
    out[name] = evaluatePointer(source[1], ref.path);
  }
  for (const [key, value] of Object.entries(args)) if (!key.startsWith('#')) out[key] = value;
  return out;
}

/** The request object's shape (RFC 8620 3.3); a RequestProblem when it is not one. */
export function checkRequest(body: unknown, capabilities: readonly string[] = [capabilityCore, capabilityMail]): { using: string[]; methodCalls: Array<[string, Args, string]>; createdIds?: Record<string, string> } {
  const request = body as { using?: unknown; methodCalls?: unknown; createdIds?: unknown };
  if (request === null || typeof request !== 'object' || Array.isArray(request)) throw new RequestProblem('notRequest', 400, 'the body is not a JMAP Request object');
  if (!Array.isArray(request.using) || !request.using.every((u) => typeof u === 'string')) throw new RequestProblem('notRequest', 400, 'using must be a list of capability URIs');
  if (!Array.isArray(request.methodCalls)) throw new RequestProblem('notRequest', 400, 'methodCalls must be a list');
  for (const call of request.methodCalls) {
    if (!Array.isArray(call) || call.length !== 3 || typeof call[0] !== 'string' || typeof call[2] !== 'string' || call[1] === null || typeof call[1] !== 'object' || Array.isArray(call[1])) {
      throw new RequestProblem('notRequest', 400, 'each method call is [name, arguments, callId]');
    }
  }
  if (request.createdIds !== undefined && (request.createdIds === null || typeof request.createdIds !== 'object')) throw new RequestProblem('notRequest', 400, 'createdIds must be an object');
  for (const capability of request.using as string[]) {
    if (!capabilities.includes(capability)) throw new RequestProblem('unknownCapability', 400, `unknown capability ${capability}`);
  }
  if (request.methodCalls.length > jmapLimits.maxCallsInRequest) throw new RequestProblem('limit', 400, `at most ${jmapLimits.maxCallsInRequest} method calls`, 'maxCallsInRequest');
  return request as { using: string[]; methodCalls: Array<[string, Args, string]>; createdIds?: Record<string, string> };
}
