// The admin API (HTTPS, port 8443) and the plain-HTTP health endpoint (8080). The `quire`
// command line uses the admin API whenever a server runs on its data directory. Every request
// must carry the administrator credential from first start as a Bearer token; without it the
// answer is 401 and nothing runs.

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { type ErrorCode, type Failure, errorInfo } from '../../engine/errors.js';

export interface AdminBackend {
  copies(): Promise<unknown[]>;
  users(): Promise<unknown[]>;
  addUser(input: { address: string; password: string; database?: string; quotaBytes?: number | null }): Promise<{ ok: true; value: unknown } | Failure>;
  removeUser(address: string): Promise<{ ok: true; value: unknown } | Failure>;
  setPassword(address: string, password: string): Promise<{ ok: true; value: unknown } | Failure>;
  setQuota(address: string, quotaBytes: number | null): Promise<{ ok: true; value: unknown } | Failure>;
  /** Planned activation of the copy of `database` on server `to` (lossless). */
  switchover(database: string, to: string, copy?: number): Promise<void>;
  suspend(database: string, server: string, copy?: number): Promise<void>;
  resume(database: string, server: string, copy?: number): Promise<void>;
  /** Databases that should be mounted but are not. */
  unhealthy(): Promise<string[]>;
}

export interface AdminServerOptions {
  readonly backend: AdminBackend;
  readonly adminToken: string;
  readonly tls: { cert: string; key: string };
  readonly host: string;
  readonly httpsPort: number;
  readonly httpPort: number;
}

export const bodyBytesMax = 1024 * 1024;

function sendResult(reply: FastifyReply, result: { ok: true; value: unknown } | Failure, created = false): FastifyReply {
  if (result.ok) return reply.code(created ? 201 : 200).send(result.value ?? { ok: true });
  return reply.code(errorInfo(result.code as ErrorCode).http).send({ error: result.code, message: result.message });
}

function authorized(request: FastifyRequest, token: string): boolean {
  const header = request.headers.authorization ?? '';
  const presented = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(token);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

export async function startAdminServers(options: AdminServerOptions): Promise<{ https: FastifyInstance; http: FastifyInstance }> {
  const { backend } = options;
  const https = Fastify({ https: { cert: options.tls.cert, key: options.tls.key }, bodyLimit: bodyBytesMax, logger: false });
  https.addHook('onRequest', async (request, reply) => {
    if (request.url.startsWith('/api/') && !authorized(request, options.adminToken)) {
      await reply.code(401).header('www-authenticate', 'Bearer realm="quire"').send({ error: 'AUTHENTICATION_FAILED', message: 'administrator credential required' });
    }
  });
  https.get('/api/v1/databases', async () => backend.copies());
  const copyAction = (action: (database: string, server: string, copy?: number) => Promise<void>) =>
    async (request: FastifyRequest<{ Params: { database: string }; Body: { server?: unknown; copy?: unknown } }>, reply: FastifyReply) => {
      const { server, copy } = request.body ?? {};
      if (typeof server !== 'string' || (copy !== undefined && typeof copy !== 'number')) {
        return reply.code(400).send({ error: 'INVALID_ARGUMENT', message: 'server (string) is required; copy is a number' });
      }
      try {
        await action(request.params.database, server, copy as number | undefined);
      } catch (error) {
        return reply.code(409).send({ error: 'DATABASE_UNAVAILABLE', message: (error as Error).message });
      }
      return reply.send(await backend.copies());
    };
  https.post('/api/v1/databases/:database/switchover', copyAction((d, s, c) => backend.switchover(d, s, c)));
  https.post('/api/v1/databases/:database/suspend', copyAction((d, s, c) => backend.suspend(d, s, c)));
  https.post('/api/v1/databases/:database/resume', copyAction((d, s, c) => backend.resume(d, s, c)));
  https.get('/api/v1/users', async () => backend.users());
  https.post<{ Body: { address: string; password: string; database?: string; quotaBytes?: number | null } }>('/api/v1/users', async (request, reply) => {
    const body = request.body;
    if (typeof body?.address !== 'string' || typeof body.password !== 'string') {
      return reply.code(400).send({ error: 'INVALID_ARGUMENT', message: 'address and password are required' });
    }
    return sendResult(reply, await backend.addUser(body), true);
  });
  https.delete<{ Params: { address: string } }>('/api/v1/users/:address', async (request, reply) => sendResult(reply, await backend.removeUser(request.params.address)));
  https.put<{ Params: { address: string }; Body: { password: string } }>('/api/v1/users/:address/password', async (request, reply) => {
    if (typeof request.body?.password !== 'string') return reply.code(400).send({ error: 'INVALID_ARGUMENT', message: 'password is required' });
    return sendResult(reply, await backend.setPassword(request.params.address, request.body.password));
  });
  https.put<{ Params: { address: string }; Body: { quotaBytes: number | null } }>('/api/v1/users/:address/quota', async (request, reply) =>
    sendResult(reply, await backend.setQuota(request.params.address, request.body?.quotaBytes ?? null)),
  );

  const http = Fastify({ logger: false, bodyLimit: bodyBytesMax });
  http.get('/healthz', async (_request, reply) => {
    const down = await backend.unhealthy();
    return reply.code(down.length === 0 ? 200 : 503).send({ ok: down.length === 0, unhealthy: down });
  });
  http.all('/*', async (request, reply) => {
    const host = (request.headers.host ?? `localhost`).replace(/:\d+$/, '');
    return reply.redirect(`https://${host}:${options.httpsPort}${request.url}`, 301);
  });

  await https.listen({ host: options.host, port: options.httpsPort });
  await http.listen({ host: options.host, port: options.httpPort });
  return { https, http };
}
