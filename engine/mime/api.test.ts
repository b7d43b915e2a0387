// Proves the content reads of the mailbox API on a real database (files and RocksDB) and
// through a real worker process: the summary is computed once at delivery, travels in the
// ContentStored event (so a replay from the log gives it back unchanged), is shared by copies
// and moves, and BODY[section], BINARY and bodyValues read the right bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxDatabase } from '../database.js';
import { nodeStorage, seededPrng, systemClock } from '../io.js';
import { openRocksKv } from '../state/rocks.js';
import { begin, type MailboxApi } from '../api.js';
import { EventType } from '../events/types.js';
import { decodeEvent } from '../events/codec.js';
import { Supervisor } from '../supervisor.js';
import { summariesPerCallMax } from './constants.js';
import { alternative, mixed } from './fixtures.js';
import { summarize } from './parse.js';

const openAt = (dir: string): Promise<MailboxDatabase> =>
  MailboxDatabase.open({ name: 'DB01', dir, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(11), openKv: openRocksKv });
const text = (bytes: Uint8Array | null): string => (bytes === null ? '<null>' : Buffer.from(bytes).toString('utf8'));

async function exercise(api: MailboxApi, mailboxId: string): Promise<void> {
  assert.ok((await api.commit({ mailboxId, ops: [{ op: 'createMailbox', address: `${mailboxId}@example.org`, quotaBytes: null }] })).ok);
  const appended = await begin(api, mailboxId).append('INBOX', alternative).append('INBOX', mixed).commit();
  assert.ok(appended.ok);
  assert.ok((await begin(api, mailboxId).copy('INBOX', [2], 'Archive').commit()).ok);

  const summaries = await api.summaries(mailboxId, 'INBOX', [2, 1, 99]);
  assert.ok(summaries.ok);
  assert.deepEqual(summaries.value.map((m) => m.uid), [1, 2]);
  assert.deepEqual(summaries.value[0]!.summary, summarize(alternative));
  assert.equal(summaries.value[1]!.summary.envelope.subject, 'Report');
  assert.equal(summaries.value[1]!.sizeBytes, mixed.length);
  const copied = await api.summaries(mailboxId, 'Archive', [1]);
  assert.ok(copied.ok);
  assert.deepEqual(copied.value[0]!.summary, summaries.value[1]!.summary);

  const part = await api.readPart(mailboxId, 'INBOX', 2, { path: [3, 2], specifier: 'MIME' });
  assert.ok(part.ok);
  assert.equal(text(part.value), 'Content-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment\r\n\r\n');
  const fields = await api.readPart(mailboxId, 'INBOX', 1, { path: [], specifier: 'HEADER.FIELDS', fields: ['message-id'] });
  assert.ok(fields.ok);
  assert.equal(text(fields.value), 'Message-ID: <c0ffee.1@example.org>\r\n\r\n');
  const binary = await api.readPart(mailboxId, 'INBOX', 1, { path: [1] }, { binary: true });
  assert.ok(binary.ok);
  assert.equal(text(binary.value), 'Grüße Bob,\r\n\r\ndas ist ein längerer Text mit einer weichen Zeilenumbruch.');
  const missing = await api.readPart(mailboxId, 'INBOX', 1, { path: [7] });
  assert.deepEqual(missing, { ok: true, value: null });
  assert.equal((await api.readPart(mailboxId, 'INBOX', 42, { path: [] })).ok, false);

  const values = await api.bodyValues(mailboxId, 'INBOX', 2, ['1.1.1', '1.1.2', '1', 'nope'], { bytesMax: 14 });
  assert.ok(values.ok);
  assert.deepEqual(values.value, {
    '1.1.1': { value: 'Siehe Anhang, ', isEncodingProblem: false, isTruncated: true },
    '1.1.2': { value: '<p>Siehe Anhan', isEncodingProblem: false, isTruncated: true },
  });

  const limit = await api.summaries(mailboxId, 'INBOX', Array.from({ length: summariesPerCallMax + 1 }, (_, i) => i + 1));
  assert.equal(limit.ok ? 'ok' : limit.code, 'LIMIT');
  const atLimit = await api.summaries(mailboxId, 'INBOX', Array.from({ length: summariesPerCallMax }, (_, i) => i + 1));
  assert.ok(atLimit.ok);
}

test('content reads on a real database; the summary is in the log and survives reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-mime-'));
  try {
    let db = await openAt(dir);
    await exercise(db, 'u1');
    // The summary travels in the ContentStored event: the log holds it, replay never re-parses.
    const stored = [];
    for await (const batch of db.transactionLog().read(0)) {
      for (const record of batch.records) {
        const event = decodeEvent(record.type, record.version, record.payload);
        if (event.type === EventType.ContentStored) stored.push(event);
      }
    }
    assert.equal(stored.length, 2);
    assert.deepEqual(stored[0]!.summary, summarize(alternative));
    await db.close();
    db = await openAt(dir);
    const after = await db.summaries('u1', 'INBOX', [1]);
    assert.ok(after.ok);
    assert.deepEqual(after.value[0]!.summary, summarize(alternative));
    // Expunging the last reference deletes the summary with the content.
    assert.ok((await begin(db, 'u1').expunge('INBOX', [2]).commit()).ok);
    assert.ok((await begin(db, 'u1').expunge('Archive', [1]).commit()).ok);
    assert.equal(db.durableState().contents.size, 1);
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('content reads and search through a worker process (WorkerClient over IPC); the copy status shows the index state', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-mime-ipc-'));
  const supervisor = new Supervisor({ copies: [{ database: 'DB01', server: 'MBX1', copy: 1, role: 'active', dir: join(dir, 'DB01') }] });
  try {
    await supervisor.start();
    const api = supervisor.api('DB01');
    await exercise(api, 'u2');
    // The worker builds its content index at open; the copy status shows its state.
    let state = '';
    for (let tries = 0; tries < 300 && state !== 'Healthy'; tries++) {
      state = (await supervisor.list())[0]!.contentIndexState;
      if (state !== 'Healthy') await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(state, 'Healthy');
    // And what is not indexed yet: the backlog drains in slices after the commits.
    let backlog: number | null = null;
    for (let tries = 0; tries < 300 && backlog !== 0; tries++) {
      const copy = (await supervisor.list())[0]!;
      backlog = copy.contentIndexBacklog;
      if (backlog !== 0) await new Promise((resolve) => setTimeout(resolve, 100));
      else assert.equal(copy.contentIndexLagMs, 0);
    }
    assert.equal(backlog, 0);
    assert.deepEqual(await api.search('u2', 'INBOX', { key: 'text', value: 'schöne' }), { ok: true, value: [2] });
    assert.deepEqual(await api.search('u2', 'Archive', { key: 'subject', value: 'report' }), { ok: true, value: [1] });
  } finally {
    await supervisor.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
