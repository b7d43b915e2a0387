// JMAP over HTTPS (RFC 8620 sec. 2, 3, 6, 7.3): the session resource at /.well-known/jmap
// (and /jmap/session), the API endpoint, blob upload and download, and push over EventSource
// from the mailbox API's change feed. Authentication is HTTP Basic over TLS, checked by the
// front-end context (with its failed-login slow-down); a good login is remembered for a short
// while (by a hash of the header) so each API call does not pay a password hash.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import type { Account, FrontEndContext, MailSubmission } from '../../frontend.js';
import { AccountView } from './account.js';
import { BlobStore } from './blobs.js';
import { documentState } from './collection.js';
import { type Args, type Method, type MethodContext, MethodError, RequestProblem, capabilityCore, capabilityMail, capabilitySubmission, capabilityVacation, checkRequest, jmapLimits, resolveReferences } from './core.js';
import { emailChanges, emailCopy, emailGet, emailImport, emailParse, emailQuery, emailQueryChanges, emailSet, threadChanges, threadGet } from './email.js';
import { identityChanges, identityGet, identityKind, identitySet } from './identity.js';
import { mailboxChanges, mailboxGet, mailboxQuery, mailboxQueryChanges, mailboxSet } from './mailbox.js';
import { refuseWrite, sharedAccountEntry, sharedAccounts } from './shared.js';
import { searchSnippetGet } from './snippet.js';
import { refreshSubmissions, submissionChanges, submissionGet, submissionKind, submissionQuery, submissionQueryChanges, submissionSet } from './submission.js';
import { vacationGet, vacationSet } from './vacation.js';
import { vacationKind } from '../../vacation.js';

/** How long a good Basic login is remembered (a password change takes effect after at most this). */
export const loginCacheMs = 60_000;
export const loginCacheEntriesMax = 10_000;
/** EventSource ping interval bounds (RFC 8620 7.3: the client asks, the server may clamp). */
export const pingSecondsMin = 10;
export const pingSecondsMax = 300;

export interface JmapOptions {
  readonly context: FrontEndContext;
  readonly nowMs?: () => number;
}

/**
 * A submission the mail flow's queue finishes is brought up to date in its sender's account
 * documents at once, so EmailSubmission's state moves and push tells the clients (else it would
 * wait for the account's next EmailSubmission call). Attached once by the server when its mail
 * flow starts (after these routes); returns the unsubscribe function.
 */
export function followMailFlow(context: FrontEndContext, flow: MailSubmission): () => void {
  return (
    flow.onFinished?.((_id, mailFrom) => {
      if (mailFrom === '') return;
      void (async () => {
        const found = await context.findAccount(mailFrom);
        if (!found.ok || found.value === null) return;
        const account = found.value;
        const view = new AccountView(context.mailboxes(account.database), account);
        await refreshSubmissions({ account, accountId: account.mailboxId, view, createdIds: new Map(), frontEnd: context, clientAddress: '127.0.0.1' });
      })().catch(() => undefined);
    }) ?? (() => undefined)
  );
}

/** The JMAP routes on the HTTPS server; encapsulated, so its body parsers do not leak to the admin API. */
export function jmapRoutes(options: JmapOptions): (app: FastifyInstance) => void {
  const { context } = options;
  const nowMs = options.nowMs ?? Date.now;
  const blobs = new BlobStore(nowMs);
  const logins = new Map<string, { account: Account; untilMs: number }>();
  // A remembered login names the mailbox's database: a move makes it stale.
  context.onMailboxMoved((mailboxId) => {
    for (const [key, login] of logins) if (login.account.mailboxId === mailboxId) logins.delete(key);
  });
  /** JMAP types whose state is an account document kind's modseq (pushed when the kind changes). */
  const documentTypes = [['Identity', identityKind], ['EmailSubmission', submissionKind], ['VacationResponse', vacationKind]] as const;
  /** Open push streams: ended when the server closes, or its close would wait for the clients. */
  const streams = new Set<() => void>();
  const methods: Record<string, Method> = {
    'Core/echo': async (args) => args,
    'Mailbox/get': mailboxGet,
    'Mailbox/changes': mailboxChanges,
    'Mailbox/query': mailboxQuery,
    'Mailbox/queryChanges': mailboxQueryChanges,
    'Mailbox/set': mailboxSet,
    'Email/get': emailGet,
    'Email/changes': emailChanges,
    'Email/query': emailQuery,
    'Email/queryChanges': emailQueryChanges,
    'Email/set': emailSet(blobs),
    'Email/import': emailImport(blobs),
    'Email/copy': emailCopy(blobs),
    'Email/parse': emailParse(blobs),
    'Thread/get': threadGet,
    'Thread/changes': threadChanges,
    'SearchSnippet/get': searchSnippetGet,
    'Identity/get': identityGet,
    'Identity/changes': identityChanges,
    'Identity/set': identitySet,
    'EmailSubmission/get': submissionGet,
    'EmailSubmission/changes': submissionChanges,
    'EmailSubmission/query': submissionQuery,
    'EmailSubmission/queryChanges': submissionQueryChanges,
    'EmailSubmission/set': submissionSet(emailSet(blobs)),
    'VacationResponse/get': vacationGet,
    'VacationResponse/set': vacationSet,
  };
  /** The capability a method needs in `using` (RFC 8621 1.3: Identity and EmailSubmission are submission's). */
  const capabilityOf = (name: string): string | null =>
    name.startsWith('Core/') ? null
    : name.startsWith('Identity/') || name.startsWith('EmailSubmission/') ? capabilitySubmission
    : name.startsWith('VacationResponse/') ? capabilityVacation
    : capabilityMail;
  /** Submission and the vacation response work only with a running mail flow; only then are they advertised. */
  const capabilities = (): string[] => {
    const sending = (context.mailSubmission?.() ?? null) !== null;
    return [capabilityCore, capabilityMail, ...(sending ? [capabilitySubmission, capabilityVacation] : [])];
  };

  async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<Account | null> {
    const header = request.headers.authorization ?? '';
    const refuse = () => {
      void reply.code(401).header('www-authenticate', 'Basic realm="quire", charset="UTF-8"').send({ type: 'about:blank', status: 401, detail: 'authentication required' });
      return null;
    };
    if (!header.startsWith('Basic ')) return refuse();
    const key = createHash('sha256').update(header).digest('base64');
    const remembered = logins.get(key);
    if (remembered !== undefined && remembered.untilMs > nowMs()) return remembered.account;
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return refuse();
    const checked = await context.authenticate(decoded.slice(0, colon), decoded.slice(colon + 1), { protocol: 'jmap', address: request.ip });
    if (!checked.ok) {
      if (checked.code === 'DIRECTORY_UNAVAILABLE') {
        void reply.code(503).send({ type: 'about:blank', status: 503, detail: 'the directory is unavailable; try again' });
        return null;
      }
      request.log.info({ login: decoded.slice(0, colon).slice(0, 100) }, 'jmap login failed');
      return refuse();
    }
    logins.delete(key);
    logins.set(key, { account: checked.value, untilMs: nowMs() + loginCacheMs });
    while (logins.size > loginCacheEntriesMax) logins.delete(logins.keys().next().value!);
    return checked.value;
  }

  /** The session object changes only with the account set (one account per user here). */
  // The database is part of it: after a mailbox move every response's sessionState differs, so
  // clients re-fetch the session (RFC 8620 3.4).
  const sessionStateOf = (account: Account) => createHash('sha256').update(`${account.address}\n${account.mailboxId}\n${account.database}`).digest('hex').slice(0, 16);
  const baseUrl = (request: FastifyRequest) => `https://${request.headers.host ?? 'localhost'}`;

  async function session(request: FastifyRequest, reply: FastifyReply) {
    const account = await authenticate(request, reply);
    if (account === null) return reply;
    const base = baseUrl(request);
    const accountCapabilities = {
      [capabilityMail]: {
        maxMailboxesPerEmail: 1,
        maxMailboxDepth: 16,
        maxSizeMailboxName: 255,
        maxSizeAttachmentsPerEmail: context.limits.messageBytesMax,
        emailQuerySortOptions: ['receivedAt', 'size', 'from', 'to', 'subject', 'sentAt', 'hasKeyword'],
        mayCreateTopLevelMailbox: true,
      },
    };
    const sending = capabilities().includes(capabilitySubmission);
    const extra = sending ? { [capabilitySubmission]: {}, [capabilityVacation]: {} } : {};
    const accountExtra = sending ? { [capabilitySubmission]: { maxDelayedSend: 0, submissionExtensions: {} }, [capabilityVacation]: {} } : {};
    const shared = Object.fromEntries((await sharedAccounts(context, account)).map((s) => [s.accountId, sharedAccountEntry(s, capabilityMail, accountCapabilities[capabilityMail])]));
    return reply.send({
      capabilities: { [capabilityCore]: { ...jmapLimits, maxSizeUpload: context.limits.messageBytesMax }, [capabilityMail]: {}, ...extra },
      accounts: { [account.mailboxId]: { name: account.address, isPersonal: true, isReadOnly: false, accountCapabilities: { ...accountCapabilities, ...accountExtra } }, ...shared },
      primaryAccounts: { [capabilityMail]: account.mailboxId, ...(sending ? { [capabilitySubmission]: account.mailboxId, [capabilityVacation]: account.mailboxId } : {}) },
      username: account.address,
      apiUrl: `${base}/jmap/api`,
      downloadUrl: `${base}/jmap/download/{accountId}/{blobId}/{name}?accept={type}`,
      uploadUrl: `${base}/jmap/upload/{accountId}/`,
      eventSourceUrl: `${base}/jmap/eventsource?types={types}&closeafter={closeafter}&ping={ping}`,
      state: sessionStateOf(account),
    });
  }

  async function api(request: FastifyRequest, reply: FastifyReply) {
    const account = await authenticate(request, reply);
    if (account === null) return reply;
    let parsed: ReturnType<typeof checkRequest>;
    try {
      if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) throw new RequestProblem('notJSON', 400, 'the content type must be application/json');
      let body: unknown;
      try {
        body = JSON.parse((request.body as Buffer).toString('utf8'));
      } catch {
        throw new RequestProblem('notJSON', 400, 'the body is not valid JSON');
      }
      parsed = checkRequest(body, capabilities());
    } catch (error) {
      if (!(error instanceof RequestProblem)) throw error;
      return reply.code(error.status).header('content-type', 'application/problem+json').send(error.body());
    }
    const view = new AccountView(context.mailboxes(account.database), account);
    const createdIds = new Map(Object.entries(parsed.createdIds ?? {}));
    const methodContext: MethodContext = { account, accountId: account.mailboxId, view, createdIds, frontEnd: context, clientAddress: request.ip };
    // Public folders' shared accounts (shared.ts), looked up only when a call names another account.
    let sharedContexts: Map<string, MethodContext> | null = null;
    const contextFor = async (accountId: unknown): Promise<MethodContext | null> => {
      if (accountId === account.mailboxId || typeof accountId !== 'string') return null;
      sharedContexts ??= new Map((await sharedAccounts(context, account)).map((s) => [s.accountId, { ...methodContext, accountId: s.accountId, view: s.view() }]));
      return sharedContexts.get(accountId) ?? null;
    };
    const responses: Array<[string, Args, string]> = [];
    for (const [name, rawArgs, callId] of parsed.methodCalls) {
      const started = performance.now();
      let outcome: 'ok' | 'no' | 'bad' = 'ok';
      try {
        const method = methods[name];
        if (method === undefined) throw new MethodError('unknownMethod', `unknown method ${name}`);
        const needed = capabilityOf(name);
        if (needed !== null && !parsed.using.includes(needed)) throw new MethodError('unknownMethod', `${name} needs ${needed} in using`);
        const args = resolveReferences(rawArgs, responses);
        const sharedContext = await contextFor(args.accountId);
        if (sharedContext !== null) refuseWrite(name);
        const answer = await method(args, sharedContext ?? methodContext);
        if (Array.isArray(answer)) for (const [n, a] of answer) responses.push([n, a, callId]);
        else responses.push([name, answer, callId]);
      } catch (error) {
        if (!(error instanceof MethodError)) {
          request.log.error({ err: { message: (error as Error).message, stack: (error as Error).stack }, method: name }, 'jmap method failed');
          responses.push(['error', { type: 'serverFail', description: 'internal error' }, callId]);
          outcome = 'no';
        } else {
          responses.push(['error', { type: error.type, description: error.message, ...error.extra }, callId]);
          outcome = ['invalidArguments', 'unknownMethod', 'invalidResultReference'].includes(error.type) ? 'bad' : 'no';
        }
      }
      context.metrics.command('jmap', name, outcome, performance.now() - started);
    }
    return reply.send({
      methodResponses: responses,
      sessionState: sessionStateOf(account),
      ...(parsed.createdIds === undefined ? {} : { createdIds: Object.fromEntries(createdIds) }),
    });
  }

  return (app: FastifyInstance) => {
    void app.register(async (jmap) => {
      // Every body arrives as bytes: the API parses its own JSON (to answer notJSON), uploads keep theirs.
      jmap.removeAllContentTypeParsers();
      jmap.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: Math.max(jmapLimits.maxSizeRequest, context.limits.messageBytesMax) }, (_request, body, done) => done(null, body));
      jmap.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
        const status = error.statusCode ?? 500;
        if (status === 413) return reply.code(413).header('content-type', 'application/problem+json').send(new RequestProblem('limit', 413, error.message, 'maxSizeRequest').body());
        if (status < 500) return reply.code(status).send({ type: 'about:blank', status, detail: error.message });
        return reply.code(500).send({ type: 'about:blank', status: 500, detail: 'internal error' });
      });

      jmap.addHook('preClose', async () => {
        for (const close of [...streams]) close();
      });

      jmap.get('/.well-known/jmap', session);
      jmap.get('/jmap/session', session);
      jmap.post('/jmap/api', { bodyLimit: jmapLimits.maxSizeRequest }, api);

      jmap.post<{ Params: { accountId: string } }>('/jmap/upload/:accountId/', { bodyLimit: context.limits.messageBytesMax }, async (request, reply) => {
        const account = await authenticate(request, reply);
        if (account === null) return reply;
        if (request.params.accountId !== account.mailboxId) return reply.code(404).send({ type: 'about:blank', status: 404, detail: 'no such account' });
        const bytes = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
        const type = (request.headers['content-type'] ?? 'application/octet-stream').split(';')[0]!.trim() || 'application/octet-stream';
        return reply.code(201).send(blobs.upload(account.mailboxId, new Uint8Array(bytes), type));
      });

      jmap.get<{ Params: { accountId: string; blobId: string; name: string }; Querystring: { accept?: string } }>('/jmap/download/:accountId/:blobId/:name', async (request, reply) => {
        const account = await authenticate(request, reply);
        if (account === null) return reply;
        if (request.params.accountId !== account.mailboxId) return reply.code(404).send({ type: 'about:blank', status: 404, detail: 'no such account' });
        const view = new AccountView(context.mailboxes(account.database), account);
        const blob = await blobs.read({ accountId: account.mailboxId, view }, request.params.blobId);
        if (blob === null) return reply.code(404).send({ type: 'about:blank', status: 404, detail: 'no such blob' });
        const accept = request.query.accept;
        const type = typeof accept === 'string' && /^[\w.+-]+\/[\w.+-]+$/.test(accept) ? accept : blob.type;
        const name = request.params.name.replace(/["\\\r\n]/g, '_');
        return reply
          .header('content-type', type)
          .header('content-disposition', `attachment; filename="${name}"`)
          .header('cache-control', 'private, immutable, max-age=31536000')
          .send(Buffer.from(blob.bytes));
      });

      jmap.get<{ Querystring: { types?: string; closeafter?: string; ping?: string } }>('/jmap/eventsource', async (request, reply) => {
        const account = await authenticate(request, reply);
        if (account === null) return reply;
        const lease = context.openSession(account, { protocol: 'jmap', address: request.ip });
        if (!lease.ok) return reply.code(429).send({ type: 'about:blank', status: 429, detail: lease.message });
        const types = (request.query.types ?? '*').split(',');
        const closeAfter = request.query.closeafter === 'state';
        const pingSeconds = Number(request.query.ping ?? 0);
        const api = context.mailboxes(account.database);
        const view = () => new AccountView(api, account);
        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        context.metrics.sessionOpened('jmap');
        const wanted = (type: string) => types.includes('*') || types.includes(type);
        /** The state each type had in the last event (or at connection). */
        let last: Record<string, string> = {};
        let closed = false;
        /** Every type's state now: the mail types share one (account.ts), the document types are their kinds' modseqs. */
        const statesNow = async (): Promise<Record<string, string>> => {
          const now = view();
          const mail = await now.state();
          const documents = (await now.info()).documents ?? {};
          const states: Record<string, string> = { Mailbox: mail, Email: mail, Thread: mail };
          for (const [type, kind] of documentTypes) states[type] = documentState(documents[kind] ?? 0);
          return states;
        };
        // One computation at a time, so events leave in the order of the states they carry.
        let sending: Promise<void> = Promise.resolve();
        const sendState = (): void => {
          sending = sending.then(async () => {
            if (closed) return;
            let states: Record<string, string>;
            try {
              states = await statesNow();
            } catch {
              return;
            }
            if (closed) return;
            const changed: Record<string, string> = {};
            for (const [type, state] of Object.entries(states)) if (wanted(type) && last[type] !== state) changed[type] = state;
            last = states;
            if (Object.keys(changed).length === 0) return;
            raw.write(`event: state\ndata: ${JSON.stringify({ '@type': 'StateChange', changed: { [account.mailboxId]: changed } })}\n\n`);
            if (closeAfter) close();
          });
        };
        const unwatch = api.watch(account.mailboxId, () => sendState());
        const interval = Math.min(pingSecondsMax, Math.max(pingSecondsMin, pingSeconds));
        const ping = pingSeconds > 0 ? setInterval(() => raw.write(`event: ping\ndata: ${JSON.stringify({ interval })}\n\n`), interval * 1000) : null;
        const close = () => {
          if (closed) return;
          closed = true;
          streams.delete(close);
          unwatch();
          if (ping !== null) clearInterval(ping);
          lease.value.release();
          context.metrics.sessionClosed('jmap');
          raw.end();
        };
        raw.on('close', close);
        streams.add(close);
        // A mailbox move ends the stream: the client reconnects (EventSource does by itself), and
        // its next requests carry a new sessionState.
        lease.value.onMoved(close);
        // The state now is the baseline: an event follows each change after it (RFC 8620 7.3).
        try {
          last = await statesNow();
        } catch {
          // the database is down: the first change event will carry the states
        }
        raw.write(': connected\n\n');
      });
    });
  };
}
