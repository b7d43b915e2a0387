// A database worker process: one mounted database copy per process, so one database's crash
// or corruption never stops the others (Exchange's store worker model). It opens the copy
// (recovering from its log), then serves requests from the supervisor one message at a time;
// commits overlap freely, which is what lets group commit batch them.

import { MailboxDatabase } from '../database.js';
import { nodeStorage, systemClock, systemPrng } from '../io.js';
import { openRocksKv } from '../state/rocks.js';
import type { MailboxChange } from '../api.js';
import { ok } from '../errors.js';
import { Outbox, unpack } from './outbox.js';
import type { Many, Notice, OpenParams, Reply, Request, Shipped } from './protocol.js';

/** Answers and notices of this turn of the event loop leave in one write at its end (outbox.ts). */
const outbox = new Outbox<Reply | Notice>((message, done) => {
  if (process.send === undefined || !process.connected) done(null);
  else process.send(message, undefined, undefined, done);
});
const send = (message: Reply | Notice): void => outbox.send(message);

async function main(): Promise<void> {
  const params = JSON.parse(process.env.QUIRE_WORKER ?? '{}') as OpenParams;
  // Sync durability: batches wait here for the supervisor's `shipped` answer.
  const shipWaiters = new Map<number, { resolve(): void; reject(error: Error): void }>();
  let shipSeq = 0;
  let shipAck = params.shipAck === true;
  const onBatch = (batch: { start: number; end: number; bytes: Uint8Array }): Promise<void> | void => {
    const seq = ++shipSeq;
    // A copy: `batch.bytes` is a view of the log's frame slot, which a later batch may reuse as
    // soon as this one is answered, and the outbox serializes at the end of the turn.
    send({ notice: 'batch', start: batch.start, end: batch.end, bytes: batch.bytes.slice(), seq });
    if (!shipAck) return;
    return new Promise((resolve, reject) => shipWaiters.set(seq, { resolve, reject }));
  };
  process.on('message', (message: Shipped | Request | Many<Request>) => {
    if (!('shipped' in message)) return;
    const waiter = shipWaiters.get(message.shipped);
    shipWaiters.delete(message.shipped);
    if (message.error === undefined) waiter?.resolve();
    else waiter?.reject(new Error(message.error));
  });
  let database: MailboxDatabase;
  try {
    database = await MailboxDatabase.open({
      name: params.name,
      dir: params.dir,
      role: params.role,
      storage: nodeStorage(),
      clock: systemClock(),
      prng: systemPrng(),
      openKv: openRocksKv,
      onBatch,
      ...(params.logSegmentBytesMax === undefined ? {} : { logSegmentBytesMax: params.logSegmentBytesMax }),
      ...(params.diskFreeBytesMin === undefined ? {} : { diskFreeBytesMin: params.diskFreeBytesMin }),
      ...(params.checkpointDepthBytes === undefined ? {} : { checkpointDepthBytes: params.checkpointDepthBytes }),
      ...(params.replayAtOpen === undefined ? {} : { replayAtOpen: params.replayAtOpen }),
      // After a failed write the writer's view is unknown: exit, so the supervisor restarts
      // the worker and recovery rebuilds everything from the durable log.
      onFailure: (error) => {
        outbox.now({ notice: 'failed', error: `write failed: ${(error as Error).message}` });
        setTimeout(() => process.exit(4), 100);
      },
    });
  } catch (error) {
    outbox.now({ notice: 'failed', error: `${(error as Error).name}: ${(error as Error).message}` });
    process.exitCode = 3;
    setTimeout(() => process.exit(3), 50);
    return;
  }
  // The content index is built in the background; searches are exact (brute force) meanwhile.
  void database.startIndexing();
  const unwatch = new Map<string, () => void>();
  const onChange = (change: MailboxChange): void => send({ notice: 'change', change });

  const handle = async (request: Request): Promise<unknown> => {
    switch (request.method) {
      case 'commit':
        return database.commit(request.params);
      case 'commitMany':
        return ok(await database.commitMany(request.params.requests));
      case 'mailbox':
        return database.mailbox(request.params.mailboxId);
      case 'sharedFolders':
        return database.sharedFolders(request.params.identifier);
      case 'folders':
        return database.folders(request.params.mailboxId);
      case 'listMessages': {
        const { mailboxId, folder, changedSince, history } = request.params;
        return database.listMessagesPacked(mailboxId, folder, { ...(changedSince === undefined ? {} : { changedSince }), ...(history === true ? { history } : {}) });
      }
      case 'documents': {
        const { mailboxId, kind, ids } = request.params;
        return database.documents(mailboxId, kind, ids === undefined ? {} : { ids });
      }
      case 'readMessage':
        return database.readMessage(request.params.mailboxId, request.params.folder, request.params.uid);
      case 'summaries':
        return database.summaries(request.params.mailboxId, request.params.folder, request.params.uids);
      case 'readPart': {
        const { mailboxId, folder, uid, section, binary } = request.params;
        return database.readPart(mailboxId, folder, uid, section, { binary });
      }
      case 'bodyValues': {
        const { mailboxId, folder, uid, partIds, bytesMax } = request.params;
        return database.bodyValues(mailboxId, folder, uid, partIds, { bytesMax });
      }
      case 'search': {
        const { mailboxId, folder, criterion, uids } = request.params;
        return database.search(mailboxId, folder, criterion, uids === undefined ? {} : { uids });
      }
      case 'watch': {
        const { mailboxId, on } = request.params;
        if (on && !unwatch.has(mailboxId)) unwatch.set(mailboxId, database.watch(mailboxId, onChange));
        if (!on) {
          unwatch.get(mailboxId)?.();
          unwatch.delete(mailboxId);
        }
        return null;
      }
      case 'status':
        return { ...database.status(), pid: process.pid };
      case 'receiveBatch':
        await database.receiveBatch(request.params.bytes, request.params.start, request.params.replayTo, request.params.mark === true);
        return database.status();
      case 'playForward':
        await database.playForward(request.params.to, { boundary: request.params.boundary === true });
        return database.status();
      case 'snapshot':
        return database.snapshot(request.params.dir);
      case 'readBatches': {
        const out: Array<{ start: number; bytes: Uint8Array }> = [];
        let total = 0;
        for await (const batch of database.transactionLog().read(request.params.from)) {
          out.push({ start: batch.start, bytes: batch.bytes.slice() });
          total += batch.bytes.length;
          if (total >= request.params.bytesMax) break;
        }
        return out;
      }
      case 'truncateLog':
        return database.truncateLog(request.params.position);
      case 'promote':
        // Receives are serialized by the supervisor, which stops this copy's feed first.
        await database.promote();
        shipAck = request.params.shipAck;
        return { ...database.status(), pid: process.pid };
      case 'ping':
        return 'pong';
      case 'close':
        await database.close();
        // After this answer is queued (a microtask away), written before the exit.
        setImmediate(() => {
          outbox.flush();
          process.exit(0);
        });
        return null;
    }
  };

  process.on('message', (message: Request | Many<Request> | Shipped) => {
    if ('shipped' in message) return;
    for (const request of unpack(message)) {
      handle(request).then(
        (value) => send({ id: request.id, ok: true, value }),
        (error: unknown) => send({ id: request.id, ok: false, error: `${(error as Error).name}: ${(error as Error).message}` }),
      );
    }
  });
  // Ctrl-C and `kill` of the process group reach workers too: the supervisor decides when a
  // database closes (cleanly, in order), so the worker leaves those signals to it.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  // The supervisor going away must not leave an orphan holding the database.
  process.on('disconnect', () => {
    database.close().finally(() => process.exit(0));
  });
  outbox.now({ notice: 'ready', status: { ...database.status(), pid: process.pid } });
}

void main();
