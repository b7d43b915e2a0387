// Mailbox moves over a real server (DB01 → DB02): a real IMAP client keeps appending while the
// move runs, and afterwards every message is in the target exactly once, with its UID, flags,
// internal date and its folder's UIDVALIDITY and UIDNEXT; the source mailbox is gone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { begin, type MailboxApi } from '../engine/api.js';
import { startTestServer, type TestServer } from '../test/harness.js';
import { adminCall } from '../protocols/http/testing.js';
import { startServer } from './server.js';

const message = (id: string): string =>
  `From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: ${id}\r\nMessage-ID: <${id}@example.org>\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nBody of ${id}.\r\n`;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function imap(quire: TestServer, user: string, password: string): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port: quire.port('imaps'),
    secure: true,
    tls: { ca: [quire.cert], servername: 'localhost' },
    auth: { user, pass: password },
    logger: false,
  } as ConstructorParameters<typeof ImapFlow>[0]);
}

function ok<T>(result: { ok: true; value: T } | { ok: false; code: string; message: string }): T {
  if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
  return result.value;
}

/** INBOX (30 messages, some flagged) and Work (6, the two newest expunged: UIDNEXT 7 over 4 messages). */
async function seed(api: MailboxApi, mailboxId: string): Promise<void> {
  ok(await begin(api, mailboxId).add({ op: 'createFolder', name: 'Work' }).add({ op: 'createFolder', name: 'Work/Sub' }).commit());
  const inbox = begin(api, mailboxId);
  for (let i = 1; i <= 30; i++) inbox.append('INBOX', bytes(message(`seed-${i}`)), i % 3 === 0 ? ['\\Seen', '$Label'] : [], Date.UTC(2024, 0, i));
  ok(await inbox.commit());
  const work = begin(api, mailboxId);
  for (let i = 1; i <= 6; i++) work.append('Work', bytes(message(`work-${i}`)), ['\\Flagged'], Date.UTC(2023, 5, i));
  ok(await work.commit());
  ok(await begin(api, mailboxId).expunge('Work', [5, 6]).store('INBOX', [2], 'add', ['\\Answered']).commit());
}

async function snapshot(api: MailboxApi, mailboxId: string): Promise<Record<string, unknown>> {
  const folders = ok(await api.folders(mailboxId));
  const result: Record<string, unknown> = {};
  for (const folder of folders) {
    const listing = ok(await api.listMessages(mailboxId, folder.name));
    result[folder.name] = {
      uidValidity: folder.uidValidity,
      uidNext: folder.uidNext,
      subscribed: folder.subscribed,
      messages: listing.messages.map((m) => ({ uid: m.uid, flags: [...m.flags].sort(), internalDateMs: m.internalDateMs, sizeBytes: m.sizeBytes })),
    };
  }
  return result;
}

test('a mailbox moves to another database while an IMAP client keeps appending: nothing lost or doubled, UIDs kept', async () => {
  const quire = await startTestServer();
  try {
    const address = 'alice@example.org';
    await quire.addUser(address, 'alice-pw-123', { database: 'DB01' });
    const user = (await quire.server.directory.findUser(address))!;
    const db01 = quire.server.supervisor.api('DB01');
    const db02 = quire.server.supervisor.api('DB02');
    await seed(db01, user.mailboxId);
    const before = await snapshot(db01, user.mailboxId);

    // The writer: one APPEND after another; a refused one (IN_USE during the lock, or the
    // source gone after the switch) is retried on a new connection, which finds the new database.
    const acknowledged: Array<{ id: string; uid: number; uidValidity: number }> = [];
    const refused: string[] = [];
    let stopAfter = Number.POSITIVE_INFINITY;
    // A connection that logs in at the switch is told to reconnect too (closed during connect): it connects again.
    const connect = async (): Promise<ImapFlow> => {
      for (let attempt = 1; ; attempt++) {
        const client = imap(quire, address, 'alice-pw-123');
        client.on('error', () => undefined);
        try {
          await client.connect();
          return client;
        } catch (error) {
          if (attempt >= 20) throw error;
          refused.push(`connect: ${(error as Error).message}`);
        }
      }
    };
    const writer = (async () => {
      let client = await connect();
      for (let n = 1; acknowledged.length < stopAfter; ) {
        const id = `live-${n}`;
        try {
          const answer = await client.append('INBOX', message(id), ['\\Seen']);
          assert.ok(answer && answer.uid !== undefined);
          acknowledged.push({ id, uid: answer.uid, uidValidity: Number(answer.uidValidity) });
          n += 1;
        } catch (error) {
          refused.push(`${id}: ${(error as Error).message}`);
          await client.logout().catch(() => undefined);
          client = await connect();
        }
      }
      await client.logout();
    })();

    const call = (method: string, path: string, body?: unknown) => adminCall(quire.port('https'), quire.cert, quire.server.adminToken, method, path, body);
    const started = await call('POST', '/api/v1/moves', { address, to: 'DB02' });
    assert.equal(started.status, 201, started.text());
    const id = started.json().id as string;
    assert.equal(started.json().from, 'DB01');
    let move = started.json();
    while (!['done', 'cancelled', 'failed'].includes(move.state)) {
      await new Promise((resolve) => setImmediate(resolve));
      move = (await call('GET', `/api/v1/moves/${id}`)).json();
    }
    assert.equal(move.state, 'done', move.error);
    stopAfter = acknowledged.length + 3; // three more appends, after the switch
    await writer;

    const listed = (await call('GET', '/api/v1/moves')).json() as Array<{ id: string; state: string; address: string }>;
    assert.deepEqual(listed.map((m) => [m.id, m.address, m.state]), [[id, address, 'done']]);
    assert.equal((await quire.server.directory.findUser(address))!.database, 'DB02');
    const gone = await db01.mailbox(user.mailboxId);
    assert.ok(!gone.ok && gone.code === 'NO_SUCH_MAILBOX', 'the source mailbox is deleted');

    // The target holds what the source held, UIDs, flags, dates, UIDVALIDITY and UIDNEXT included.
    const after = await snapshot(db02, user.mailboxId);
    for (const name of ['Work', 'Work/Sub', 'Sent', 'Drafts', 'Trash', 'Junk', 'Archive'].filter((n) => n in before)) {
      assert.deepEqual(after[name], before[name], `folder ${name}`);
    }
    const inboxBefore = before.INBOX as { uidValidity: number; messages: Array<{ uid: number }> };
    const inboxAfter = after.INBOX as { uidValidity: number; uidNext: number; messages: Array<{ uid: number }> };
    assert.equal(inboxAfter.uidValidity, inboxBefore.uidValidity);
    assert.deepEqual(inboxAfter.messages.slice(0, 30), inboxBefore.messages);

    // Over IMAP: every acknowledged APPEND exactly once, under the UID it was acknowledged with.
    const reader = imap(quire, address, 'alice-pw-123');
    await reader.connect();
    try {
      const box = await reader.mailboxOpen('INBOX');
      assert.equal(Number(box.uidValidity), inboxBefore.uidValidity);
      const byId = new Map<string, number[]>();
      for await (const m of reader.fetch('1:*', { uid: true, envelope: true })) {
        const subject = m.envelope?.subject ?? '';
        byId.set(subject, [...(byId.get(subject) ?? []), m.uid]);
      }
      for (let i = 1; i <= 30; i++) assert.deepEqual(byId.get(`seed-${i}`), [i]);
      for (const a of acknowledged) {
        assert.deepEqual(byId.get(a.id), [a.uid], `${a.id} once, with its UID`);
        assert.equal(a.uidValidity, inboxBefore.uidValidity);
      }
      assert.equal(byId.size, 30 + acknowledged.length, 'nothing else (no duplicates of refused appends)');
      const work = (await reader.status('Work', { uidNext: true, messages: true })) as { messages: number; uidNext: number };
      assert.deepEqual([work.messages, work.uidNext], [4, 7], 'Work keeps UIDNEXT past its expunged UIDs');
    } finally {
      await reader.logout();
    }
  } finally {
    await quire.stop();
  }
});

test('a move cancelled before its switch leaves the user where it was; it can be moved again; a move survives a restart', async () => {
  const quire = await startTestServer({ keepData: true });
  let restarted: Awaited<ReturnType<typeof startServer>> | null = null;
  try {
    const address = 'bob@example.org';
    await quire.addUser(address, 'bob-pw-12345', { database: 'DB01' });
    const user = (await quire.server.directory.findUser(address))!;
    const db01 = quire.server.supervisor.api('DB01');
    await seed(db01, user.mailboxId);
    const before = await snapshot(db01, user.mailboxId);

    const moves = quire.server.moves;
    const first = ok(await moves.start(address, 'DB02'));
    assert.equal(ok(moves.cancel(first.id)).id, first.id);
    const cancelled = (await moves.wait(first.id))!;
    assert.equal(cancelled.state, 'cancelled');
    assert.equal((await quire.server.directory.findUser(address))!.database, 'DB01');
    const none = await quire.server.supervisor.api('DB02').mailbox(user.mailboxId);
    assert.ok(!none.ok && none.code === 'NO_SUCH_MAILBOX', 'the target copy is deleted');
    assert.deepEqual(await snapshot(db01, user.mailboxId), before, 'the source is untouched');
    const refusedCancel = moves.cancel(first.id);
    assert.ok(!refusedCancel.ok);

    // Again, and the server stops in the middle: the move is saved unfinished and resumes.
    const second = ok(await moves.start(address, 'DB02'));
    await quire.server.stop();
    const saved = moves.get(second.id)!;
    assert.ok(!['done', 'cancelled', 'failed'].includes(saved.state), `saved as ${saved.state}`);
    restarted = await startServer({ dataDir: quire.dataDir, server: 'MBX1', domain: 'example.org', listen: '127.0.0.1', portOffset: 0, ports: 'ephemeral', logLevel: 'silent', say: () => undefined });
    const resumed = (await restarted.moves.wait(second.id))!;
    assert.equal(resumed.state, 'done', resumed.error);
    assert.equal((await restarted.directory.findUser(address))!.database, 'DB02');
    assert.deepEqual(await snapshot(restarted.supervisor.api('DB02'), user.mailboxId), before);
    const gone = await restarted.supervisor.api('DB01').mailbox(user.mailboxId);
    assert.ok(!gone.ok && gone.code === 'NO_SUCH_MAILBOX');

    // And back to DB01, where the mailbox once was (its retired UIDVALIDITYs are its own).
    const back = ok(await restarted.moves.start(address, 'DB01'));
    assert.equal((await restarted.moves.wait(back.id))!.state, 'done');
    assert.deepEqual(await snapshot(restarted.supervisor.api('DB01'), user.mailboxId), before);
  } finally {
    await restarted?.stop();
    await quire.stop();
    const { rmSync } = await import('node:fs');
    rmSync(quire.dataDir, { recursive: true, force: true });
  }
});
