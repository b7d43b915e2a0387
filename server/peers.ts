// Server to server: "attempt copy last logs" across servers (engine/replication/lastlogs.ts).
// Each server advertises through Kafka (Supervisor.advertise) its admin API's HTTPS address, its
// certificate and a peer token that only this route accepts. A server activating a copy after
// another server's active copy failed asks that server, on `POST /peer/v1/last-logs`, for the
// batches past its new active's end; the other server stops its copy for good as active, and
// streams the batches from its files as frames (position, length, CRC32C, bytes). The caller
// pins the certificate it was told (no other certificate is accepted, whatever its name), and
// gives up when the server does not answer within `peerWaitMs` (dead, hung or unreachable).

import type { FastifyInstance } from 'fastify';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { encodeFrame, FrameReader, type LogBatch } from '../engine/replication/lastlogs.js';
import type { LastLogsRequest, Supervisor } from '../engine/supervisor.js';
import { bearerAuthorized } from '../protocols/http/admin.js';
import { writeFileDurably } from './paths.js';

const lastLogsPath = '/peer/v1/last-logs';
/** No answer (headers, or the next bytes) for this long: the other server is taken as unreachable. */
const peerWaitMs = 3_000;

const peerSecretPath = (dataDir: string): string => join(dataDir, 'secrets', 'peer.json');

/** The token other servers present on the peer route; made once per data directory. */
export function peerToken(dataDir: string, generate: () => string): string {
  try {
    return (JSON.parse(readFileSync(peerSecretPath(dataDir), 'utf8')) as { token: string }).token;
  } catch {
    const token = generate();
    writeFileDurably(peerSecretPath(dataDir), JSON.stringify({ token }));
    return token;
  }
}

/** The HTTPS route the other servers call (an encapsulated plugin for startHttpServers' httpsRoutes). */
export function peerRoutes(supervisor: Supervisor, token: string): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.post<{ Body: LastLogsRequest }>(lastLogsPath, {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['database', 'from', 'generation', 'server'],
          properties: {
            database: { type: 'string', maxLength: 64 },
            from: { type: 'integer', minimum: 0 },
            generation: { type: 'integer', minimum: 1 },
            server: { type: 'string', maxLength: 64 },
          },
        },
      },
    }, async (request, reply) => {
      if (!bearerAuthorized(request, token)) return reply.code(401).send({ error: 'AUTHENTICATION_FAILED', message: 'peer credential required' });
      let batches: AsyncGenerator<LogBatch>;
      try {
        batches = await supervisor.lastLogs(request.body);
      } catch (error) {
        return reply.code(409).send({ error: 'DATABASE_UNAVAILABLE', message: (error as Error).message });
      }
      const frames = (async function* () {
        for await (const batch of batches) yield Buffer.from(encodeFrame(batch));
      })();
      return reply.type('application/octet-stream').send(Readable.from(frames));
    });
  };
}

/** Asks `server` (as it advertised itself) for the last logs; yields verified, contiguous batches. */
export async function* fetchLastLogs(supervisor: Supervisor, server: string, body: LastLogsRequest): AsyncGenerator<LogBatch> {
  const peer = supervisor.peer(server);
  if (peer === undefined) throw new Error(`${server} never advertised its address`);
  const url = new URL(lastLogsPath, peer.url);
  const payload = JSON.stringify(body);
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    const req = httpsRequest(url, {
      method: 'POST',
      // Only the certificate the server advertised, whatever name it carries.
      ca: peer.certificate,
      checkServerIdentity: () => undefined,
      headers: { authorization: `Bearer ${peer.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      timeout: peerWaitMs,
    });
    req.on('timeout', () => req.destroy(new Error(`${server} did not answer within ${peerWaitMs} ms`)));
    req.on('error', reject);
    req.on('response', resolve);
    req.end(payload);
  });
  if (response.statusCode !== 200) {
    let text = '';
    for await (const chunk of response) text += String(chunk);
    throw new Error(`${server} answered ${response.statusCode}: ${text.slice(0, 300)}`);
  }
  const reader = new FrameReader(body.from);
  for await (const chunk of response) {
    for (const batch of reader.push(new Uint8Array((chunk as Buffer).buffer, (chunk as Buffer).byteOffset, (chunk as Buffer).length))) yield batch;
  }
  // A response cut short (the server died mid-way) ends without error in some cases: a partial frame says so.
  if (!response.complete) throw new Error(`${server} stopped answering at ${reader.end}`);
  reader.finish();
}
