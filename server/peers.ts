// Server to server, over each server's admin API's HTTPS listener. Each server advertises
// through Kafka (Supervisor.advertise) that address, its certificate and a peer token that only
// these routes accept; the caller pins the certificate it was told (no other certificate is
// accepted, whatever its name).
//  - "Attempt copy last logs" (engine/replication/lastlogs.ts): a server activating a copy after
//    another server's active copy failed asks that server, on `POST /peer/v1/last-logs`, for the
//    batches past its new active's end; the other server stops its copy for good as active, and
//    streams the batches from its files as frames (position, length, CRC32C, bytes). The caller
//    gives up when the server does not answer within `peerWaitMs` (dead, hung or unreachable).
//  - Reseed from another server: the server of the copy to seed asks the server holding the
//    active copy for a snapshot of it (`POST /peer/v1/snapshot`: taken there, answered with its
//    files and sizes), reads each file (`POST /peer/v1/snapshot/file`: frames of 1 MiB, the
//    position being the offset in the file, each with its CRC32C, checked on arrival; a file an
//    interrupted reseed staged in part is read from there, the CRC32C of the bytes before it
//    in a header, checked against the staged bytes read back from the disk), and
//    releases it (`POST /peer/v1/snapshot/release`). A snapshot nobody read for
//    `snapshotIdleMs` is removed (an interrupted reseed takes a new one when it is run again).

import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc32c } from '../engine/checksum.js';
import { encodeFrame, FrameReader, type LogBatch, takeBytes } from '../engine/replication/lastlogs.js';
import type { SnapshotReader, SnapshotSource } from '../engine/replication/seed.js';
import type { LastLogsRequest, PeerSnapshot, SnapshotRequest, Supervisor } from '../engine/supervisor.js';
import { bearerAuthorized } from '../protocols/http/admin.js';
import { writeFileDurably } from './paths.js';

const lastLogsPath = '/peer/v1/last-logs';
const snapshotPath = '/peer/v1/snapshot';
const snapshotFilePath = '/peer/v1/snapshot/file';
const snapshotReleasePath = '/peer/v1/snapshot/release';
/** No answer (headers, or the next bytes) for this long: the other server is taken as unreachable. */
const peerWaitMs = 3_000;
/** A snapshot takes RocksDB's close and reopen on a busy server, and a reseed's reader may pause (throttled, slow disk). */
const snapshotWaitMs = 60_000;
/** A snapshot served to another server and not read for this long is removed. */
const snapshotIdleMs = 10 * 60_000;
/** The bytes of one frame of a snapshot file. */
const snapshotFrameBytes = 1024 * 1024;
/** The CRC32C of a snapshot file's bytes before the offset a read starts at. */
const prefixChecksumHeader = 'x-quire-prefix-crc32c';
/** Server names become part of a folder's name on the serving server. */
const serverNamePattern = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

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

/** The HTTPS routes the other servers call (an encapsulated plugin for startHttpServers' httpsRoutes). */
export function peerRoutes(supervisor: Supervisor, token: string): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    // Every route here takes the peer token only (this plugin's hook: no other route sees it).
    app.addHook('onRequest', async (request, reply) => {
      if (!bearerAuthorized(request, token)) await reply.code(401).send({ error: 'AUTHENTICATION_FAILED', message: 'peer credential required' });
    });
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

    // Snapshots served to other servers: by id, each with its folder and files.
    const served = new Map<string, { key: string; dir: string; files: Map<string, number>; timer: NodeJS.Timeout | null }>();
    const drop = async (id: string): Promise<void> => {
      const entry = served.get(id);
      if (entry === undefined) return;
      served.delete(id);
      if (entry.timer !== null) clearTimeout(entry.timer);
      await rm(entry.dir, { recursive: true, force: true });
    };
    const touch = (id: string): void => {
      const entry = served.get(id);
      if (entry === undefined) return;
      if (entry.timer !== null) clearTimeout(entry.timer);
      entry.timer = setTimeout(() => void drop(id).catch(() => {}), snapshotIdleMs);
      entry.timer.unref();
    };
    app.addHook('onClose', async () => {
      for (const id of [...served.keys()]) await drop(id).catch(() => {});
    });
    app.post<{ Body: SnapshotRequest }>(snapshotPath, {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['database', 'server', 'copy'],
          properties: { database: { type: 'string', maxLength: 64 }, server: { type: 'string', pattern: serverNamePattern }, copy: { type: 'integer', minimum: 1, maximum: 1000 } },
        },
      },
    }, async (request, reply) => {
      const key = `${request.body.database}/${request.body.server}#${request.body.copy}`;
      // The same copy asking again (its reseed was interrupted): the new snapshot replaces the old one's folder.
      for (const [id, entry] of served) if (entry.key === key) await drop(id);
      let taken: Awaited<ReturnType<Supervisor['snapshotForPeer']>>;
      try {
        taken = await supervisor.snapshotForPeer(request.body);
      } catch (error) {
        return reply.code(409).send({ error: 'DATABASE_UNAVAILABLE', message: (error as Error).message });
      }
      const id = randomUUID();
      served.set(id, { key, dir: taken.dir, files: new Map(taken.info.files.map((f) => [f.path, f.bytes])), timer: null });
      touch(id);
      return { id, source: taken.source, ...taken.info };
    });
    app.post<{ Body: { id: string; path: string; from?: number } }>(snapshotFilePath, {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'path'],
          properties: { id: { type: 'string', maxLength: 64 }, path: { type: 'string', maxLength: 300 }, from: { type: 'integer', minimum: 0, multipleOf: 4096 } },
        },
      },
    }, async (request, reply) => {
      const entry = served.get(request.body.id);
      // Only the files the snapshot named (never another path), and only their snapshot's bytes.
      const bytes = entry?.files.get(request.body.path);
      if (entry === undefined || bytes === undefined) return reply.code(404).send({ error: 'NOT_FOUND', message: 'no such snapshot or file (removed after a pause, or by a newer reseed)' });
      touch(request.body.id);
      const from = request.body.from ?? 0;
      if (from > bytes) return reply.code(416).send({ error: 'INVALID_ARGUMENT', message: `${request.body.path} has ${bytes} bytes` });
      const handle = await open(join(entry.dir, request.body.path), 'r');
      // What the caller staged before `from` is checked against this, not sent again.
      let prefix = 0;
      try {
        const chunk = Buffer.allocUnsafe(snapshotFrameBytes);
        for (let position = 0; position < from; position += snapshotFrameBytes) {
          const length = Math.min(snapshotFrameBytes, from - position);
          const { bytesRead } = await handle.read(chunk, 0, length, position);
          prefix = crc32c(chunk.subarray(0, bytesRead), prefix);
        }
      } catch (error) {
        await handle.close();
        throw error;
      }
      reply.header(prefixChecksumHeader, String(prefix));
      const frames = (async function* () {
        try {
          for (let position = from; position < bytes; ) {
            const chunk = Buffer.allocUnsafe(Math.min(snapshotFrameBytes, bytes - position));
            const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
            if (bytesRead !== chunk.length) throw new Error(`${request.body.path} ended at ${position + bytesRead} of ${bytes} bytes`);
            yield Buffer.from(encodeFrame({ start: position, bytes: chunk }));
            position += chunk.length;
            touch(request.body.id);
          }
        } finally {
          await handle.close();
        }
      })();
      return reply.type('application/octet-stream').send(Readable.from(frames));
    });
    app.post<{ Body: { id: string } }>(snapshotReleasePath, {
      schema: { body: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } },
    }, async (request, reply) => {
      await drop(request.body.id);
      return reply.code(204).send();
    });
  };
}

/** POSTs `body` to another server's peer route (as it advertised itself); resolves with a 2xx response, rejects otherwise. */
async function peerPost(supervisor: Supervisor, server: string, path: string, body: unknown, waitMs: number): Promise<IncomingMessage> {
  const peer = supervisor.peer(server);
  if (peer === undefined) throw new Error(`${server} never advertised its address`);
  const url = new URL(path, peer.url);
  const payload = JSON.stringify(body);
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpsRequest(url, {
      method: 'POST',
      // Only the certificate the server advertised, whatever name it carries.
      ca: peer.certificate,
      checkServerIdentity: () => undefined,
      headers: { authorization: `Bearer ${peer.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      timeout: waitMs,
    });
    req.on('timeout', () => req.destroy(new Error(`${server} did not answer within ${waitMs} ms`)));
    req.on('error', reject);
    req.on('response', resolve);
    req.end(payload);
  });
  const status = response.statusCode ?? 0;
  if (status < 200 || status > 299) {
    let text = '';
    for await (const chunk of response) text += String(chunk);
    throw new Error(`${server} answered ${response.statusCode}: ${text.slice(0, 300)}`);
  }
  return response;
}

const bytesOf = (chunk: Buffer): Uint8Array => new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);

/** One snapshot file read from another server: its frames checked (CRC32C, continuity) and handed out in the sizes asked for. */
class PeerFileReader implements SnapshotReader {
  private readonly frames: FrameReader;
  private readonly chunks: Iterator<Buffer> | AsyncIterator<Buffer>;
  private pending: Uint8Array[] = [];
  private buffered = 0;
  private ended = false;
  readonly prefixChecksum?: number;

  constructor(private readonly response: IncomingMessage, private readonly server: string, from: number) {
    this.frames = new FrameReader(from);
    this.chunks = response[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const prefix = Number(response.headers[prefixChecksumHeader]);
    if (from > 0 && Number.isInteger(prefix)) this.prefixChecksum = prefix;
  }

  async read(into: Buffer, length: number): Promise<number> {
    while (this.buffered < length && !this.ended) {
      const next = await this.chunks.next();
      if (next.done === true) {
        // A response cut short (the server died mid-way) may end without an error: the frames say so.
        if (!this.response.complete) throw new Error(`${this.server} stopped sending at ${this.frames.end}`);
        this.frames.finish();
        this.ended = true;
        break;
      }
      for (const frame of this.frames.push(bytesOf(next.value as Buffer))) {
        this.pending.push(frame.bytes);
        this.buffered += frame.bytes.length;
      }
    }
    const filled = takeBytes(this.pending, into, length);
    this.buffered -= filled;
    return filled;
  }

  async close(): Promise<void> {
    this.response.destroy();
  }
}

/** Asks `server` (where the active copy is) for a snapshot to seed a copy here from; its files are read from there. */
export async function fetchSnapshot(supervisor: Supervisor, server: string, request: SnapshotRequest): Promise<PeerSnapshot> {
  const response = await peerPost(supervisor, server, snapshotPath, request, snapshotWaitMs);
  let text = '';
  for await (const chunk of response) text += String(chunk);
  const answer = JSON.parse(text) as PeerSnapshot['info'] & { id: string; source: string };
  const { id, source, ...info } = answer;
  const files: SnapshotSource = {
    // A file an interrupted reseed staged in part is read from where it stopped (the staged bytes are checked by CRC32C).
    open: async (path, from) => new PeerFileReader(await peerPost(supervisor, server, snapshotFilePath, { id, path, from }, snapshotWaitMs), server, from),
  };
  return {
    info,
    source,
    files,
    release: async () => {
      (await peerPost(supervisor, server, snapshotReleasePath, { id }, peerWaitMs)).resume();
    },
  };
}

/** Asks `server` (as it advertised itself) for the last logs; yields verified, contiguous batches. */
export async function* fetchLastLogs(supervisor: Supervisor, server: string, body: LastLogsRequest): AsyncGenerator<LogBatch> {
  const response = await peerPost(supervisor, server, lastLogsPath, body, peerWaitMs);
  const reader = new FrameReader(body.from);
  for await (const chunk of response) {
    for (const batch of reader.push(bytesOf(chunk as Buffer))) yield batch;
  }
  // A response cut short (the server died mid-way) ends without error in some cases: a partial frame says so.
  if (!response.complete) throw new Error(`${server} stopped answering at ${reader.end}`);
  reader.finish();
}
