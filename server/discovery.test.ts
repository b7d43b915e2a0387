// Proves multi-mailbox search (eDiscovery) end to end: a real server with mailboxes in both
// databases (mail delivered over SMTP by nodemailer, plus appends with set internal dates), the
// real `quire search` command line through the admin API: counts per mailbox for text, from,
// to/cc and date ranges equal to what each mailbox holds; --copy-to creates the discovery
// mailbox and copies every hit, byte for byte, under "<name>/<source address>"; every search is
// in the audit log (`quire search --audit`), which survives a reload, lists a search the server
// never finished as interrupted and skips a torn line; bad
// requests are refused with a clear error, and without the credential nothing runs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { begin } from '../engine/api.js';
import { startTestServer } from '../test/harness.js';
import { httpsCall } from '../protocols/http/testing.js';
import { quire } from '../cli/testing.js';
import { DiscoveryManager, discoveryLimits } from './discovery.js';
import { encodeLine } from '../engine/directory/log.js';

const message = (from: string, to: string, cc: string, subject: string, body: string): Uint8Array =>
  new TextEncoder().encode(`From: ${from}\r\nTo: ${to}\r\n${cc ? `Cc: ${cc}\r\n` : ''}Subject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Math.random().toString(36).slice(2)}@example.org>\r\n\r\n${body}\r\n`);

test('quire search: counts per mailbox, copy into a discovery mailbox, audit log', { timeout: 120_000 }, async () => {
  const quire_ = await startTestServer();
  const { dataDir } = quire_;
  try {
    await quire_.addUser('alice@example.org', 'alice-pw-1', { database: 'DB01' });
    await quire_.addUser('bob@example.org', 'bob-pw-1', { database: 'DB02' });
    await quire_.addUser('carol@example.org', 'carol-pw-1', { database: 'DB01' });
    const user = async (address: string) => (await quire_.server.directory.findUser(address))!;
    const api = (database: string) => quire_.server.supervisor.api(database);
    const jan = (day: number): number => Date.UTC(2026, 0, day);

    // Appends with set internal dates (the date range is on them), in two folders.
    const alice = await user('alice@example.org');
    const bob = await user('bob@example.org');
    const a = begin(api('DB01'), alice.mailboxId).add({ op: 'createFolder', name: 'Projects' });
    a.append('INBOX', message('Mallory <mallory@evil.test>', 'alice@example.org', '', 'Quarterly numbers', 'the merger plan is attached'), [], jan(5));
    a.append('INBOX', message('Bob <bob@example.org>', 'alice@example.org', 'carol@example.org', 'lunch', 'sandwiches at noon'), [], jan(10));
    a.append('Projects', message('Mallory <mallory@evil.test>', 'team@example.org', 'alice@example.org', 'Re: merger', 'keep the MERGER PLAN quiet'), ['\\Seen'], jan(20));
    assert.ok((await a.commit()).ok);
    const b = begin(api('DB02'), bob.mailboxId);
    b.append('INBOX', message('Alice <alice@example.org>', 'bob@example.org', '', 'plans', 'no merger plan here, only a merger'), [], jan(7));
    b.append('INBOX', message('Mallory <mallory@evil.test>', 'bob@example.org', '', 'hello', 'the merger plan v2'), [], jan(25));
    assert.ok((await b.commit()).ok);
    // And mail delivered over SMTP (internal date: now).
    const smtp = nodemailer.createTransport({ host: '127.0.0.1', port: quire_.port('smtp'), secure: false, ignoreTLS: true });
    await smtp.sendMail({ from: 'mallory@evil.test', to: 'carol@example.org', subject: 'offer', text: 'About the merger plan: call me.' });
    smtp.close();

    const search = async (...args: string[]): Promise<Record<string, any>> => {
      const r = await quire(dataDir, 'search', ...args, '--json');
      assert.equal(r.status, 0, r.stderr + r.stdout);
      return JSON.parse(r.stdout) as Record<string, any>;
    };
    const counts = (s: Record<string, any>): Record<string, number> => Object.fromEntries((s.counts as Array<{ address: string; messages: number }>).map((c) => [c.address, c.messages]));

    let s = await search('merger plan', '--all');
    assert.equal(s.state, 'done');
    assert.deepEqual(counts(s), { 'alice@example.org': 2, 'bob@example.org': 2, 'carol@example.org': 1, 'demo@example.org': 0 });
    assert.equal(s.messagesFound, 5);
    s = await search('merger plan', '--all', '--from', 'mallory@evil');
    assert.deepEqual(counts(s), { 'alice@example.org': 2, 'bob@example.org': 1, 'carol@example.org': 1, 'demo@example.org': 0 });
    s = await search('--mailbox', 'alice@example.org', '--mailbox', 'bob@example.org', '--to', 'alice@example.org', '--since', '2026-01-06');
    assert.deepEqual(counts(s), { 'alice@example.org': 2, 'bob@example.org': 0 }); // To or Cc; the 5th is before the range
    s = await search('merger', '--mailbox', 'alice@example.org,bob@example.org', '--since', '2026-01-06', '--before', '2026-01-21');
    assert.deepEqual(counts(s), { 'alice@example.org': 1, 'bob@example.org': 1 });

    // Copy the hits into a discovery mailbox (created on the way).
    const copied = await quire(dataDir, 'search', 'merger plan', '--from', 'mallory', '--all', '--copy-to', 'discovery@example.org', '--name', 'Case 42');
    assert.equal(copied.status, 0, copied.stderr);
    assert.match(copied.stdout, /4 messages in 3 of 4 mailboxes; 4 copied to discovery@example\.org, folder Case 42/);
    const discovery = await user('discovery@example.org');
    const folders = await api(discovery.database).folders(discovery.mailboxId);
    assert.ok(folders.ok);
    const byName = new Map(folders.value.map((f) => [f.name, f.messages]));
    assert.equal(byName.get('Case 42/alice@example.org'), 2);
    assert.equal(byName.get('Case 42/bob@example.org'), 1);
    assert.equal(byName.get('Case 42/carol@example.org'), 1);
    const original = await api('DB02').readMessage(bob.mailboxId, 'INBOX', 2);
    const copy = await api(discovery.database).readMessage(discovery.mailboxId, 'Case 42/bob@example.org', 1);
    assert.ok(original.ok && copy.ok);
    assert.deepEqual(copy.value, original.value);
    const listed = await api(discovery.database).listMessages(discovery.mailboxId, 'Case 42/bob@example.org');
    assert.ok(listed.ok);
    assert.equal(listed.value.messages[0]!.internalDateMs, jan(25), 'the internal date is kept');
    // --all leaves the discovery mailbox out.
    assert.equal(counts(await search('merger plan', '--all')).hasOwnProperty('discovery@example.org'), false);

    // The audit log: every search, who, the query and the counts.
    const audit = await quire(dataDir, 'search', '--audit', '--json');
    assert.equal(audit.status, 0, audit.stderr);
    const entries = JSON.parse(audit.stdout) as Array<Record<string, any>>;
    assert.equal(entries.length, 6);
    const case42 = entries.find((e) => e.name === 'Case 42')!;
    assert.deepEqual([case42.state, case42.copyTo, case42.messagesCopied, case42.query], ['done', 'discovery@example.org', 4, { text: 'merger plan', from: 'mallory' }]);
    assert.match(case42.actor, /^admin \(.+ via quire search\) from 127\.0\.0\.1$/);
    const table = await quire(dataDir, 'search', '--audit');
    assert.match(table.stdout, /"merger plan" from:mallory/);
    // Durable: a new reader of the file sees the same, and a torn last line is skipped.
    const auditPath = join(dataDir, 'discovery', 'audit.log');
    // A search the server never finished (it stopped) is listed as interrupted.
    appendFileSync(auditPath, encodeLine({ type: 'started', id: 'cut', atMs: 1, name: 'cut short', actor: 'admin', query: { text: 'x' }, mailboxes: 'all', copyTo: null }));
    appendFileSync(auditPath, '0badc0de {"type":"started","id":"torn"');
    const reread = new DiscoveryManager({ auditPath, directory: quire_.server.directory, apiFor: api, createMailbox: async () => { throw new Error('unused'); }, nowMs: Date.now, newId: () => 'x', log: () => {} });
    assert.deepEqual(reread.list().map((e) => [e.id, e.state, e.messagesFound]), [...entries.map((e) => [e.id, e.state, e.messagesFound]), ['cut', 'interrupted', 0]]);
    assert.equal(reread.damagedLines.length, 1);

    // Refusals: clear errors, nothing recorded.
    const bad = async (args: string[], pattern: RegExp): Promise<void> => {
      const r = await quire(dataDir, 'search', ...args);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, pattern);
    };
    await bad(['x', '--mailbox', 'nobody@example.org'], /no mailbox nobody@example\.org/);
    await bad(['x', '--all', '--since', 'last tuesday'], /bad date/);
    await bad(['x'], /--mailbox ADDRESS/);
    await bad(['x', '--mailbox', 'alice@example.org', '--copy-to', 'alice@example.org'], /cannot be searched into itself/);
    const https = (body: unknown, token = quire_.server.adminToken) =>
      httpsCall(quire_.port('https'), quire_.cert, 'POST', '/api/v1/discovery/searches', { headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await https({ text: 'x', mailboxes: 'all' }, 'wrong')).status, 401);
    assert.equal((await https({ text: 'x'.repeat(discoveryLimits.queryCharsMax), mailboxes: ['alice@example.org'] })).status, 201);
    assert.equal((await https({ text: 'x'.repeat(discoveryLimits.queryCharsMax + 1), mailboxes: ['alice@example.org'] })).status, 400);
    assert.equal((await https({ text: 'x', mailboxes: [] })).status, 400);
    assert.equal((await https({ text: 'x', mailboxes: 'all', name: 'a*b' })).status, 400);
    const docs = await httpsCall(quire_.port('https'), quire_.cert, 'GET', '/api/docs/json');
    assert.ok('/api/v1/discovery/searches' in docs.json<{ paths: Record<string, unknown> }>().paths, 'documented in OpenAPI');
  } finally {
    await quire_.stop();
  }
});
