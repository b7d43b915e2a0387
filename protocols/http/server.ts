// The two HTTP listeners of shared/CONTRACT.md. HTTPS (8443): the admin API with its OpenAPI
// documentation, JMAP and the admin web page. Plain HTTP (8080): /healthz and /metrics for
// probes and Prometheus; everything else redirects to HTTPS. Both log through the server's
// pino logger with a request id on every line; fastify's request serializer keeps the method,
// the URL and the peer only (never headers, so never a credential, and never a body).

import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FrontEndContext } from '../frontend.js';
import { type AdminBackend, docsPrefix, openApiInfo, registerAdminApi } from './admin.js';
import { registerPublicFolderApi } from './publicfolders.js';
import { jmapRoutes } from './jmap/routes.js';
import { registerAdminPage } from './page.js';

export interface HttpServersOptions {
  readonly backend: AdminBackend;
  readonly adminToken: string;
  readonly context: FrontEndContext;
  readonly host: string;
  readonly httpsPort: number;
  readonly httpPort: number;
  /** The Prometheus exposition, fresh. */
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
  /** More HTTPS routes as encapsulated plugins (client set-up and address book: autoconfig.ts). */
  readonly httpsRoutes?: ReadonlyArray<(app: FastifyInstance) => Promise<void>>;
}

export const bodyBytesMax = 1024 * 1024;

/** A short request id, unique enough to follow one request through the log. */
function requestId(): string {
  return randomBytes(6).toString('base64url');
}

/** The logger fastify uses: the server's pino logger (context.log is pino in the server, a stand-in in unit tests). */
function loggerOf(context: FrontEndContext): { loggerInstance?: never; logger: false } | { loggerInstance: any } {
  const log = context.log as unknown as { level?: unknown; child: unknown };
  return typeof log.level === 'string' ? { loggerInstance: context.log.child({ service: 'http' }) } : { logger: false };
}

function onError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error.validation !== undefined) return reply.code(400).send({ error: 'INVALID_ARGUMENT', message: error.message });
  const status = error.statusCode ?? 500;
  if (status === 413) return reply.code(413).send({ error: 'TOO_BIG', message: error.message });
  if (status < 500) return reply.code(status).send({ error: 'INVALID_ARGUMENT', message: error.message });
  request.log.error({ err: { message: error.message, stack: error.stack } }, 'request failed');
  return reply.code(500).send({ error: 'CORRUPT', message: 'internal error' });
}

export async function startHttpServers(options: HttpServersOptions): Promise<{ https: FastifyInstance; http: FastifyInstance }> {
  const { backend, context } = options;
  // Probes and scrapes come every few seconds: they are not worth two log lines each.
  const quiet = (request: { url?: string }) => request.url === '/healthz' || request.url === '/metrics';
  const common = {
    ...loggerOf(context),
    genReqId: requestId,
    logController: new LogController({ requestIdLogLabel: 'reqId', disableRequestLogging: quiet }),
    bodyLimit: bodyBytesMax,
    // Refuse unknown fields (fastify's default strips them silently) and never coerce types.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  };
  const https = Fastify({ ...common, https: { cert: context.tls.cert, key: context.tls.key } } as never) as unknown as FastifyInstance;
  const http = Fastify(common as never) as unknown as FastifyInstance;
  for (const app of [https, http]) app.setErrorHandler(onError);

  await https.register(swagger, { ...openApiInfo, hideUntagged: true });
  await https.register(swaggerUi, { routePrefix: docsPrefix, logLevel: 'warn' });
  registerAdminApi(https, backend, options.adminToken);
  if (backend.publicFolders !== undefined) registerPublicFolderApi(https, backend.publicFolders);
  registerAdminPage(https);
  jmapRoutes({ context })(https);
  for (const routes of options.httpsRoutes ?? []) await https.register(routes);

  http.get('/healthz', async (_request, reply) => {
    const health = await backend.health();
    const ok = health.unhealthy.length === 0;
    return reply.code(ok ? 200 : 503).send({ ok, ...health });
  });
  http.get('/metrics', async (_request, reply) => {
    const exposition = await options.metrics();
    return reply.header('content-type', exposition.contentType).send(exposition.body);
  });
  http.all('/*', async (request, reply) => {
    const host = (request.headers.host ?? 'localhost').replace(/:\d+$/, '');
    const port = (https.server.address() as AddressInfo | null)?.port ?? options.httpsPort;
    return reply.redirect(`https://${host}:${port}${request.url}`, 301);
  });

  try {
    await https.listen({ host: options.host, port: options.httpsPort });
    await http.listen({ host: options.host, port: options.httpPort });
  } catch (error) {
    await Promise.allSettled([https.close(), http.close()]);
    throw error;
  }
  return { https, http };
}
