// Proves that a transaction the log could not take in one batch is refused before it changes
// anything (TOO_BIG), instead of reaching the log's assert and failing the database: a message
// under messageBytesMax whose MIME structure (the summary ContentStored carries) is larger than
// the message, and two large messages in one transaction (MULTIAPPEND, IMAP COPY across).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxDatabase } from './database.js';
import { nodeStorage, seededPrng, systemClock } from './io.js';
import { openRocksKv } from './state/rocks.js';

test('a transaction larger than one log batch answers TOO_BIG and the database goes on', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-logbytes-'));
  const failures: unknown[] = [];
  try {
    const db = await MailboxDatabase.open({ name: 'DB01', dir, role: 'active', storage: nodeStorage(), clock: systemClock(), prng: seededPrng(5), openKv: openRocksKv, diskFreeBytesMin: 0, onFailure: (error) => failures.push(error) });
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'u1@example.org', quotaBytes: null }] })).ok);
    const prng = seededPrng(7);
    const append = (...contents: Uint8Array[]) => db.commit({ mailboxId: 'u1', ops: contents.map((content) => ({ op: 'append' as const, folder: 'INBOX', content })) });
    const code = (r: Awaited<ReturnType<typeof append>>): string => (r.ok ? 'ok' : r.code);

    // 42 MiB: 500 parts, each naming itself with a 88 KB parameter; the summary repeats every name.
    const parts = Array.from({ length: 500 }, () => `--b\r\nContent-Type: text/plain; name="${Buffer.from(prng.bytes(66_000)).toString('base64')}"\r\n\r\nx\r\n`);
    const wide = new Uint8Array(Buffer.from(`From: a@b\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${parts.join('')}--b--\r\n`));
    assert.equal(code(await append(wide)), 'TOO_BIG');

    // Two 34 MiB incompressible messages in one transaction: 68 MiB of content.
    const big = (): Uint8Array => new Uint8Array(Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), prng.bytes(34 * 1024 * 1024)]));
    const one = big();
    assert.equal(code(await append(one, big())), 'TOO_BIG');
    assert.equal(code(await append(one)), 'ok', 'one of them alone fits');

    assert.equal(code(await append(new Uint8Array(Buffer.from('Subject: small\r\n\r\nhi\r\n')))), 'ok', 'the database still takes writes');
    assert.deepEqual(failures, []);
    const listed = await db.listMessages('u1', 'INBOX');
    assert.ok(listed.ok);
    assert.equal(listed.value.messages.length, 2);
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
