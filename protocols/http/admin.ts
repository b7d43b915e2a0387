// The admin API (HTTPS, 8443, under /api/v1/), documented as OpenAPI 3 by @fastify/swagger
// from the route schemas below and served at /api/docs. The `quire` command line uses it
// whenever a server runs on its data directory, and the admin web page (/admin) is a client of
// it. Every /api/v1/ request must carry the administrator credential from first start as a
// Bearer token; without it the answer is 401 and nothing runs. Only the documentation itself
// (/api/docs) is public: it holds no data.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { type ErrorCode, type Failure, errorInfo } from '../../engine/errors.js';
import type { PublicFolderAdmin } from './publicfolders.js';

export type Outcome = { ok: true; value: unknown } | Failure;

export interface ServerHealth {
  /** Databases that should be mounted on this server and are not (healthz answers 503). */
  readonly unhealthy: string[];
  /** Passive copies that are failed or dismounted (the database still serves). */
  readonly degraded: string[];
}

export interface AdminBackend {
  /** This server: its name and start time. */
  server(): { name: string; startedAtMs: number };
  copies(): Promise<unknown[]>;
  users(): Promise<unknown[]>;
  addUser(input: { address: string; password: string; database?: string; quotaBytes?: number | null }): Promise<Outcome>;
  removeUser(address: string): Promise<Outcome>;
  setPassword(address: string, password: string): Promise<Outcome>;
  setQuota(address: string, quotaBytes: number | null): Promise<Outcome>;
  domains(): Promise<string[]>;
  addDomain(name: string): Promise<Outcome>;
  /** Planned activation of the copy of `database` on server `to` (lossless). */
  switchover(database: string, to: string, copy?: number): Promise<void>;
  suspend(database: string, server: string, copy?: number): Promise<void>;
  resume(database: string, server: string, copy?: number): Promise<void>;
  /** Copies a snapshot of the active copy (state + log tail) to a passive copy and reopens it; resolves when it is open again. */
  reseed(database: string, server: string, copy?: number, options?: { bytesPerSecondMax?: number }): Promise<void>;
  /** A copy's replay lag and truncation lag. */
  setLag(database: string, server: string, copy: number | undefined, lag: { replayLagMs: number; truncationLagMs: number }): Promise<void>;
  /** Replays a lagged copy's log now: all of it, to a position, or to a time. */
  playForward(database: string, server: string, copy: number | undefined, to: { position?: number; timeMs?: number }): Promise<unknown>;
  health(): Promise<ServerHealth>;
  /** The admin page's chart: recent samples of delivery rate, commit rate and latency. */
  history(): readonly unknown[];
  /** Mailbox moves (server/moves.ts): start one, list them with their state, cancel one before its switch. */
  startMove(address: string, to: string): Promise<Outcome>;
  moves(): unknown[];
  move(id: string): Outcome;
  cancelMove(id: string): Outcome;
  /** The outbound queue (server/delivery/queue.ts): messages waiting, flush (all or one), delete (with a DSN to the sender or silently). */
  queue(): unknown[];
  flushQueue(id?: string): Outcome;
  deleteQueued(id: string, bounce: boolean): Promise<Outcome>;
  /** Multi-mailbox searches (server/discovery.ts): start one (it runs in the background), list the audit log, one search. */
  startDiscovery(request: DiscoveryRequest, actor: string): Promise<Outcome>;
  discoverySearches(): unknown[];
  discoverySearch(id: string): Outcome;
  /** Public folders (protocols/http/publicfolders.ts, registered beside this API by server.ts); absent: no such routes. */
  publicFolders?: PublicFolderAdmin;
}

/** A multi-mailbox search as the route hands it to server/discovery.ts (its dates turned into ms). */
export interface DiscoveryRequest {
  /** TEXT: header fields or body contain it. */
  readonly text?: string;
  readonly from?: string;
  /** To or Cc contains it. */
  readonly to?: string;
  /** Internal date at or after (ms since the epoch). */
  readonly sinceMs?: number;
  /** Internal date before (ms since the epoch). */
  readonly beforeMs?: number;
  /** Addresses of the mailboxes searched, or 'all' (every user but the discovery mailboxes). */
  readonly mailboxes: readonly string[] | 'all';
  /** Copy the results into this discovery mailbox (created when missing). */
  readonly copyTo?: string;
  /** The search's name: the folder its results are copied into (default: "Search <id>"). */
  readonly name?: string;
}

export const adminPrefix = '/api/v1';
export const docsPrefix = '/api/docs';

/** Answers a result: its value (200, or 201 when `created`), or its error code's HTTP status with {error, message}. */
export function sendResult(reply: FastifyReply, result: Outcome, created = false): FastifyReply {
  if (result.ok) return reply.code(created ? 201 : 200).send(result.value ?? { ok: true });
  return reply.code(errorInfo(result.code as ErrorCode).http).send({ error: result.code, message: result.message });
}

export function bearerAuthorized(request: FastifyRequest, token: string): boolean {
  const header = request.headers.authorization ?? '';
  const presented = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(token);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

// ---- schemas (OpenAPI components by $id) ----
const errorSchema = {
  $id: 'Error',
  type: 'object',
  properties: { error: { type: 'string', description: 'A code of the error catalogue (engine/errors.ts)' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

const copySchema = {
  $id: 'Copy',
  type: 'object',
  description: 'One database copy, as `quire db list --json` prints it',
  additionalProperties: true,
  properties: {
    database: { type: 'string' },
    server: { type: 'string' },
    copy: { type: 'integer' },
    role: { type: 'string', enum: ['active', 'passive', 'lagged'] },
    state: { type: 'string', description: 'Initializing, Mounting, Mounted, Healthy, Seeding, Suspended, Failed, FailedAndSuspended, Dismounted' },
    pid: { type: ['integer', 'null'] },
    restarts: { type: 'integer' },
    lastLogPosition: { type: 'number' },
    checkpointPosition: { type: 'number' },
    copyQueueLength: { type: 'number', description: 'Log bytes the active copy has that this copy has not received' },
    replayQueueLength: { type: 'number', description: 'Log bytes received and not replayed yet' },
    lastInspectedPosition: { type: 'number' },
    lastReplayedPosition: { type: 'number' },
    replayLagMs: { type: 'number' },
    activationGeneration: { type: 'integer' },
    activationPreference: { type: 'integer' },
    durability: { type: 'string', enum: ['async', 'sync'] },
    transport: { type: 'string' },
    contentIndexState: { type: 'string', description: 'The content index: Crawling, Healthy, Failed (NotApplicable: no worker)' },
    contentIndexDocuments: { type: ['integer', 'null'], description: 'Contents indexed (progress while Crawling)' },
    contentIndexDocumentsTotal: { type: ['integer', 'null'], description: 'Contents in the copy' },
    contentIndexBacklog: { type: ['integer', 'null'], description: 'Contents stored but not indexed yet (searched by brute force meanwhile: results stay exact)' },
    contentIndexLagMs: { type: ['number', 'null'], description: 'Age of the oldest content not indexed yet (0: none)' },
    seedBytesCopied: { type: ['number', 'null'], description: 'While Seeding: snapshot bytes done so far (copied, or kept from an interrupted reseed)' },
    seedBytesTotal: { type: ['number', 'null'], description: 'While Seeding: snapshot bytes (state store + log tail)' },
    seedBytesPerSecond: { type: ['number', 'null'], description: 'While Seeding: copy rate of this run' },
    replayLagTimeMs: { type: 'number', description: 'A lagged copy replays only batches received this long ago (0: not lagged)' },
    truncationLagTimeMs: { type: 'number', description: 'Log replayed less than this long ago is kept' },
    diskFreeBytes: { type: ['number', 'null'], description: 'Free bytes where the copy keeps its files' },
    lowDisk: { type: 'boolean', description: 'The low-disk guard holds writes (DISK_FULL)' },
    error: { type: ['string', 'null'] },
  },
} as const;

const userSchema = {
  $id: 'User',
  type: 'object',
  additionalProperties: true,
  properties: {
    address: { type: 'string' },
    database: { type: 'string' },
    quotaBytes: { type: ['integer', 'null'] },
    usedBytes: { type: ['integer', 'null'] },
    aliases: { type: 'array', items: { type: 'string' } },
  },
} as const;

const queuedMessageSchema = {
  $id: 'QueuedMessage',
  type: 'object',
  description: 'One message of the outbound queue, as `quire queue list --json` prints it',
  properties: {
    id: { type: 'string' },
    mailFrom: { type: 'string', description: "The envelope sender ('' for a bounce)" },
    recipients: { type: 'array', items: { type: 'string' }, description: 'Recipients not delivered yet' },
    local: { type: 'array', items: { type: 'string' }, description: 'Those of them redelivered locally (their database could not take the message at DATA)' },
    arrivalMs: { type: 'number' },
    bytes: { type: 'integer' },
    attempts: { type: 'integer' },
    nextAttemptMs: { type: 'number' },
    lastError: { type: ['string', 'null'] },
  },
  required: ['id', 'mailFrom', 'recipients', 'local', 'arrivalMs', 'bytes', 'attempts', 'nextAttemptMs', 'lastError'],
} as const;

const healthSchema = {
  $id: 'Health',
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    unhealthy: { type: 'array', items: { type: 'string' }, description: 'Databases that should be mounted here and are not' },
    degraded: { type: 'array', items: { type: 'string' }, description: 'Passive copies failed or dismounted' },
  },
} as const;

const countSchema = {
  type: 'object',
  properties: {
    address: { type: 'string' },
    database: { type: 'string' },
    messages: { type: 'integer' },
    sizeBytes: { type: 'integer' },
    error: { type: 'string', description: 'Set when the mailbox could not be searched' },
  },
} as const;

const discoverySearchSchema = {
  $id: 'DiscoverySearch',
  type: 'object',
  description: 'One multi-mailbox search and its audit record',
  properties: {
    id: { type: 'string' },
    name: { type: 'string', description: 'Also the folder the results are copied into' },
    actor: { type: 'string', description: 'Who ran it: the credential, who it said it was, from where' },
    query: { type: 'object', additionalProperties: true, properties: { text: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, sinceMs: { type: 'number' }, beforeMs: { type: 'number' } } },
    mailboxes: { oneOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }] },
    copyTo: { type: ['string', 'null'] },
    state: { type: 'string', enum: ['searching', 'copying', 'done', 'failed', 'interrupted'] },
    startedAtMs: { type: 'number' },
    finishedAtMs: { type: ['number', 'null'] },
    mailboxesTotal: { type: 'integer' },
    mailboxesSearched: { type: 'integer' },
    counts: { type: 'array', items: countSchema, description: 'Per mailbox searched (in the audit log of a finished search: those with matches or errors)' },
    messagesFound: { type: 'integer' },
    messagesCopied: { type: 'integer' },
    folder: { type: ['string', 'null'] },
    error: { type: ['string', 'null'] },
  },
} as const;

const copyActionBody = {
  type: 'object',
  required: ['server'],
  additionalProperties: false,
  properties: { server: { type: 'string', minLength: 1 }, copy: { type: 'integer', minimum: 1 } },
} as const;

const databaseParams = { type: 'object', required: ['database'], properties: { database: { type: 'string' } } } as const;
const addressParams = { type: 'object', required: ['address'], properties: { address: { type: 'string' } } } as const;
const secured = [{ bearer: [] }];
const errors = { 400: { $ref: 'Error#' }, 401: { $ref: 'Error#' } };

/** The OpenAPI document's frame; the paths come from the routes. */
export const openApiInfo = {
  openapi: {
    openapi: '3.0.3',
    info: { title: 'Quire admin API', version: '1', description: 'Users, domains, databases and copies, switchover, suspend/resume and health of one Quire server. Every operation needs the administrator credential from first start as a Bearer token.' },
    components: { securitySchemes: { bearer: { type: 'http' as const, scheme: 'bearer' } } },
    security: secured,
    tags: [
      { name: 'server', description: 'This server and its health' },
      { name: 'databases', description: 'Database copies: status, switchover, suspend, resume, reseed' },
      { name: 'users', description: 'Mailbox users' },
      { name: 'domains', description: 'Accepted domains' },
      { name: 'queue', description: 'The outbound queue: list, flush, delete' },
      { name: 'moves', description: 'Mailbox moves between databases' },
      { name: 'discovery', description: 'Multi-mailbox search (eDiscovery) and its audit log' },
      { name: 'publicfolders', description: 'Public folders: hierarchy, permissions (Exchange roles as RFC 4314 rights), mail-enabling' },
    ],
  },
};

/** Registers the admin API's routes and its Bearer check on `app` (the HTTPS server). */
export function registerAdminApi(app: FastifyInstance, backend: AdminBackend, adminToken: string): void {
  for (const schema of [errorSchema, copySchema, userSchema, healthSchema, queuedMessageSchema, discoverySearchSchema]) app.addSchema(schema);
  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/api/') || request.url.startsWith(`${docsPrefix}/`) || request.url === docsPrefix) return;
    if (!bearerAuthorized(request, adminToken)) {
      await reply.code(401).header('www-authenticate', 'Bearer realm="quire"').send({ error: 'AUTHENTICATION_FAILED', message: 'administrator credential required' });
    }
  });

  app.get(`${adminPrefix}/server`, {
    schema: {
      tags: ['server'],
      summary: 'This server: name, start time, health',
      response: {
        200: { type: 'object', properties: { name: { type: 'string' }, startedAtMs: { type: 'number' }, health: { $ref: 'Health#' } } },
        401: { $ref: 'Error#' },
      },
    },
  }, async () => {
    const health = await backend.health();
    return { ...backend.server(), health: { ok: health.unhealthy.length === 0, ...health } };
  });

  app.get(`${adminPrefix}/server/history`, {
    schema: {
      tags: ['server'],
      summary: 'Recent samples of delivery rate, commits per second, mean commit latency and log bytes per second',
      response: { 200: { type: 'array', items: { type: 'object', additionalProperties: true } }, 401: { $ref: 'Error#' } },
    },
  }, async () => backend.history());

  app.get(`${adminPrefix}/databases`, {
    schema: { tags: ['databases'], summary: 'Every database copy on this server', response: { 200: { type: 'array', items: { $ref: 'Copy#' } }, 401: { $ref: 'Error#' } } },
  }, async () => backend.copies());

  const copyAction = (action: (database: string, server: string, copy?: number) => Promise<void>) =>
    async (request: FastifyRequest<{ Params: { database: string }; Body: { server: string; copy?: number } }>, reply: FastifyReply) => {
      try {
        await action(request.params.database, request.body.server, request.body.copy);
      } catch (error) {
        return reply.code(409).send({ error: 'DATABASE_UNAVAILABLE', message: (error as Error).message });
      }
      return reply.send(await backend.copies());
    };
  const actionSchema = (summary: string) => ({
    tags: ['databases'],
    summary,
    params: databaseParams,
    body: copyActionBody,
    response: { 200: { type: 'array', items: { $ref: 'Copy#' } }, ...errors, 409: { $ref: 'Error#' } },
  });
  app.post(`${adminPrefix}/databases/:database/switchover`, { schema: actionSchema('Activate the copy on `server` (planned, lossless); answers the copies after') }, copyAction((d, s, c) => backend.switchover(d, s, c)));
  app.post(`${adminPrefix}/databases/:database/suspend`, { schema: actionSchema('Stop shipping to a passive copy; it holds its place') }, copyAction((d, s, c) => backend.suspend(d, s, c)));
  app.post(`${adminPrefix}/databases/:database/resume`, { schema: actionSchema('Resume a suspended passive copy; it catches up') }, copyAction((d, s, c) => backend.resume(d, s, c)));
  app.post<{ Params: { database: string }; Body: { server: string; copy?: number; bytesPerSecondMax?: number } }>(`${adminPrefix}/databases/:database/reseed`, {
    schema: {
      ...actionSchema('Reseed a passive copy of this server from a snapshot of the active copy, here or on another server (state store + log tail, every byte read back from the disk and compared; resumes an interrupted reseed; progress in GET .../reseed); answers when it is open again'),
      body: { ...copyActionBody, properties: { ...copyActionBody.properties, bytesPerSecondMax: { type: 'integer', minimum: 1 } } },
    },
  }, async (request, reply) => {
    const { server, copy, bytesPerSecondMax } = request.body;
    return copyAction((d, s, c) => backend.reseed(d, s, c, bytesPerSecondMax === undefined ? {} : { bytesPerSecondMax }))(request, reply);
  });
  app.get<{ Params: { database: string } }>(`${adminPrefix}/databases/:database/reseed`, {
    schema: {
      tags: ['databases'],
      summary: 'Reseed status: the copies of the database being seeded, with bytes done, total and rate',
      params: databaseParams,
      response: { 200: { type: 'array', items: { $ref: 'Copy#' } }, 401: { $ref: 'Error#' } },
    },
  }, async (request) => ((await backend.copies()) as Array<{ database: string; state: string }>).filter((c) => c.database === request.params.database && c.state === 'Seeding'));
  app.post<{ Params: { database: string }; Body: { server: string; copy?: number; replayLagMs: number; truncationLagMs: number } }>(`${adminPrefix}/databases/:database/lag`, {
    schema: {
      ...actionSchema('Set a copy\'s replay lag (a lagged copy replays only log received that long ago) and truncation lag (replayed log kept that long)'),
      body: {
        ...copyActionBody,
        required: ['server', 'replayLagMs', 'truncationLagMs'],
        properties: { ...copyActionBody.properties, replayLagMs: { type: 'integer', minimum: 0 }, truncationLagMs: { type: 'integer', minimum: 0 } },
      },
    },
  }, async (request, reply) => {
    const { replayLagMs, truncationLagMs } = request.body;
    return copyAction((d, s, c) => backend.setLag(d, s, c, { replayLagMs, truncationLagMs }))(request, reply);
  });
  app.post<{ Params: { database: string }; Body: { server: string; copy?: number; toPosition?: number; toTimeMs?: number } }>(`${adminPrefix}/databases/:database/playforward`, {
    schema: {
      ...actionSchema('Replay a lagged copy\'s log now: all of it, to a log position (toPosition) or to what arrived by a time (toTimeMs)'),
      body: { ...copyActionBody, properties: { ...copyActionBody.properties, toPosition: { type: 'integer', minimum: 0 }, toTimeMs: { type: 'integer', minimum: 0 } } },
    },
  }, async (request, reply) => {
    const { toPosition, toTimeMs } = request.body;
    const to = { ...(toPosition === undefined ? {} : { position: toPosition }), ...(toTimeMs === undefined ? {} : { timeMs: toTimeMs }) };
    return copyAction(async (d, s, c) => void (await backend.playForward(d, s, c, to)))(request, reply);
  });

  app.get(`${adminPrefix}/users`, {
    schema: { tags: ['users'], summary: 'Every user with its database, quota and mailbox size', response: { 200: { type: 'array', items: { $ref: 'User#' } }, 401: { $ref: 'Error#' } } },
  }, async () => backend.users());
  app.post<{ Body: { address: string; password: string; database?: string; quotaBytes?: number | null } }>(`${adminPrefix}/users`, {
    schema: {
      tags: ['users'],
      summary: 'Add a user and create its mailbox',
      body: {
        type: 'object',
        required: ['address', 'password'],
        additionalProperties: false,
        properties: { address: { type: 'string', minLength: 3 }, password: { type: 'string', minLength: 1 }, database: { type: 'string' }, quotaBytes: { type: ['integer', 'null'], minimum: 0 } },
      },
      response: { 201: { type: 'object', additionalProperties: true }, ...errors, 404: { $ref: 'Error#' }, 409: { $ref: 'Error#' } },
    },
  }, async (request, reply) => sendResult(reply, await backend.addUser(request.body), true));
  app.delete<{ Params: { address: string } }>(`${adminPrefix}/users/:address`, {
    schema: { tags: ['users'], summary: 'Remove a user and delete its mailbox', params: addressParams, response: { 200: { type: 'object', additionalProperties: true }, 401: { $ref: 'Error#' }, 404: { $ref: 'Error#' } } },
  }, async (request, reply) => sendResult(reply, await backend.removeUser(request.params.address)));
  app.put<{ Params: { address: string }; Body: { password: string } }>(`${adminPrefix}/users/:address/password`, {
    schema: {
      tags: ['users'],
      summary: "Set a user's password",
      params: addressParams,
      body: { type: 'object', required: ['password'], additionalProperties: false, properties: { password: { type: 'string', minLength: 1 } } },
      response: { 200: { type: 'object', additionalProperties: true }, ...errors, 404: { $ref: 'Error#' } },
    },
  }, async (request, reply) => sendResult(reply, await backend.setPassword(request.params.address, request.body.password)));
  app.put<{ Params: { address: string }; Body: { quotaBytes: number | null } }>(`${adminPrefix}/users/:address/quota`, {
    schema: {
      tags: ['users'],
      summary: "Set a user's quota (null: unlimited)",
      params: addressParams,
      body: { type: 'object', required: ['quotaBytes'], additionalProperties: false, properties: { quotaBytes: { type: ['integer', 'null'], minimum: 0 } } },
      response: { 200: { type: 'object', additionalProperties: true }, ...errors, 404: { $ref: 'Error#' } },
    },
  }, async (request, reply) => sendResult(reply, await backend.setQuota(request.params.address, request.body.quotaBytes)));

  const moveParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 320 } } };
  app.get(`${adminPrefix}/moves`, {
    schema: { tags: ['moves'], summary: 'Mailbox moves with their state (copying, catching-up, locked, switched, done, cancelled, failed) and progress', response: { 200: { type: 'array', items: { type: 'object', additionalProperties: true } }, 401: { $ref: 'Error#' } } },
  }, async () => backend.moves());
  app.post<{ Body: { address: string; to: string } }>(`${adminPrefix}/moves`, {
    schema: {
      tags: ['moves'],
      summary: "Move a user's mailbox to another database while it stays in use",
      body: { type: 'object', required: ['address', 'to'], additionalProperties: false, properties: { address: { type: 'string', minLength: 3 }, to: { type: 'string', minLength: 1 } } },
      response: { 201: { type: 'object', additionalProperties: true }, ...errors, 404: { $ref: 'Error#' }, 409: { $ref: 'Error#' }, 423: { $ref: 'Error#' } },
    },
  }, async (request, reply) => sendResult(reply, await backend.startMove(request.body.address, request.body.to), true));
  app.get<{ Params: { id: string } }>(`${adminPrefix}/moves/:id`, {
    schema: { tags: ['moves'], summary: 'One move with its state and progress', params: moveParams, response: { 200: { type: 'object', additionalProperties: true }, ...errors } },
  }, async (request, reply) => sendResult(reply, backend.move(request.params.id)));
  app.delete<{ Params: { id: string } }>(`${adminPrefix}/moves/:id`, {
    schema: { tags: ['moves'], summary: 'Cancel a move before its switch (the target copy is deleted)', params: moveParams, response: { 200: { type: 'object', additionalProperties: true }, ...errors } },
  }, async (request, reply) => sendResult(reply, backend.cancelMove(request.params.id)));

  const queuedParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } };
  app.get(`${adminPrefix}/queue`, {
    schema: { tags: ['queue'], summary: 'Messages in the outbound queue, oldest first', response: { 200: { type: 'array', items: { $ref: 'QueuedMessage#' } }, 401: { $ref: 'Error#' } } },
  }, async () => backend.queue());
  app.post<{ Body: { id?: string } }>(`${adminPrefix}/queue/flush`, {
    schema: {
      tags: ['queue'],
      summary: 'Try one queued message (id) or every one now, whatever their next attempt time',
      body: { type: 'object', additionalProperties: false, properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } },
      response: { 200: { type: 'object', properties: { flushed: { type: 'integer' } }, required: ['flushed'] }, ...errors, 404: { $ref: 'Error#' } },
    },
  }, async (request, reply) => sendResult(reply, backend.flushQueue(request.body?.id)));
  app.delete<{ Params: { id: string }; Querystring: { bounce?: 'true' | 'false' } }>(`${adminPrefix}/queue/:id`, {
    schema: {
      tags: ['queue'],
      summary: 'Remove a queued message; with bounce=true its sender gets a DSN for the recipients left',
      params: queuedParams,
      querystring: { type: 'object', additionalProperties: false, properties: { bounce: { type: 'string', enum: ['true', 'false'] } } },
      response: { 200: { type: 'object', properties: { deleted: { type: 'string' }, bounced: { type: 'boolean' } }, required: ['deleted', 'bounced'] }, ...errors, 404: { $ref: 'Error#' } },
    },
  }, async (request, reply) => sendResult(reply, await backend.deleteQueued(request.params.id, request.query.bounce === 'true')));
  const discoveryBody = {
    type: 'object',
    required: ['mailboxes'],
    additionalProperties: false,
    properties: {
      text: { type: 'string', maxLength: 1024, description: 'Header fields or body contain it (IMAP TEXT: case-insensitive substring of decoded text)' },
      from: { type: 'string', maxLength: 1024, description: 'The From field contains it' },
      to: { type: 'string', maxLength: 1024, description: 'The To or Cc field contains it' },
      since: { type: 'string', maxLength: 40, description: 'Received (internal date) at or after: ISO 8601 date or date-time, UTC' },
      before: { type: 'string', maxLength: 40, description: 'Received before: ISO 8601 date or date-time, UTC' },
      mailboxes: { oneOf: [{ type: 'array', items: { type: 'string', minLength: 3, maxLength: 320 }, minItems: 1, maxItems: 1000 }, { type: 'string', enum: ['all'] }], description: 'Addresses of the mailboxes to search, or "all"' },
      copyTo: { type: 'string', minLength: 3, maxLength: 320, description: 'Copy the results into this discovery mailbox (created when missing), folder <name>/<source address>' },
      name: { type: 'string', minLength: 1, maxLength: 100, description: 'The search\'s name: the folder the results are copied into' },
      requestedBy: { type: 'string', maxLength: 100, description: 'Who asks (recorded in the audit log beside the credential)' },
    },
  };
  app.get(`${adminPrefix}/discovery/searches`, {
    schema: { tags: ['discovery'], summary: 'The audit log of multi-mailbox searches: who, when, query, mailboxes, counts, copied or not', response: { 200: { type: 'array', items: { $ref: 'DiscoverySearch#' } }, 401: { $ref: 'Error#' } } },
  }, async () => backend.discoverySearches());
  app.post<{ Body: { text?: string; from?: string; to?: string; since?: string; before?: string; mailboxes: string[] | 'all'; copyTo?: string; name?: string; requestedBy?: string } }>(`${adminPrefix}/discovery/searches`, {
    schema: {
      tags: ['discovery'],
      summary: 'Search many mailboxes at once (eDiscovery); runs in the background: poll the search for its progress and counts',
      body: discoveryBody,
      response: { 201: { $ref: 'DiscoverySearch#' }, ...errors, 404: { $ref: 'Error#' } },
    },
  }, async (request, reply) => {
    const { since, before, requestedBy, ...rest } = request.body;
    const dates: { sinceMs?: number; beforeMs?: number } = {};
    for (const [key, value] of [['sinceMs', since], ['beforeMs', before]] as const) {
      if (value === undefined) continue;
      const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
      if (Number.isNaN(ms)) return reply.code(400).send({ error: 'INVALID_ARGUMENT', message: `bad date ${value}: use YYYY-MM-DD or an ISO 8601 date-time` });
      dates[key] = ms;
    }
    const actor = `admin${requestedBy ? ` (${requestedBy})` : ''} from ${request.ip}`;
    return sendResult(reply, await backend.startDiscovery({ ...rest, ...dates }, actor), true);
  });
  app.get<{ Params: { id: string } }>(`${adminPrefix}/discovery/searches/:id`, {
    schema: { tags: ['discovery'], summary: 'One multi-mailbox search with its state, progress and counts per mailbox', params: moveParams, response: { 200: { $ref: 'DiscoverySearch#' }, ...errors } },
  }, async (request, reply) => sendResult(reply, backend.discoverySearch(request.params.id)));

  app.get(`${adminPrefix}/domains`, {
    schema: { tags: ['domains'], summary: 'Accepted domains', response: { 200: { type: 'array', items: { type: 'string' } }, 401: { $ref: 'Error#' } } },
  }, async () => backend.domains());
  app.post<{ Body: { name: string } }>(`${adminPrefix}/domains`, {
    schema: {
      tags: ['domains'],
      summary: 'Add an accepted domain',
      body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1 } } },
      response: { 201: { type: 'object', additionalProperties: true }, ...errors, 409: { $ref: 'Error#' } },
    },
  }, async (request, reply) => sendResult(reply, await backend.addDomain(request.body.name), true));
}
