// Proves public-folder administration end to end: `quire publicfolder` through a running
// server's admin API (documented in its OpenAPI) and offline on the files after it stopped,
// a hierarchy spread over two databases, Exchange roles stored as RFC 4314 rights, and a
// mail-enabled folder that takes mail at RCPT over real SMTP (nodemailer) into the folder, and
// refuses it once its Anonymous entry loses the post right.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import nodemailer from 'nodemailer';
import { startTestServer } from '../test/harness.js';
import { adminCall, httpsCall } from '../protocols/http/testing.js';
import { quire } from '../cli/testing.js';
import { aclIdentifierBytesMax } from '../engine/constants.js';

interface Listed {
  path: string;
  database: string;
  address: string | null;
  messages: number;
  permissions: Array<{ identifier: string; rights: string; role: string | null }>;
}

test('quire publicfolder: add, permissions, mail-enable, delivery over SMTP, remove; online and offline', { timeout: 120_000 }, async () => {
  const server = await startTestServer({ keepData: true });
  const dataDir = server.dataDir;
  const ok = async (...args: string[]): Promise<string> => {
    const r = await quire(dataDir, ...args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const refused = async (...args: string[]): Promise<string> => {
    const r = await quire(dataDir, ...args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    return r.stderr.trim();
  };
  // The admin API directly, for the checks that need no second CLI process (each costs a Node start).
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, any> }> => {
    const answer = await adminCall(server.port('https'), server.cert, server.server.adminToken, method, path, body);
    return { status: answer.status, json: answer.json() };
  };
  try {
    assert.equal(await ok('publicfolder', 'add', 'Sales'), 'added Sales (DB01)');
    assert.equal(await ok('publicfolder', 'add', 'Sales/EMEA', '--database', 'DB02'), 'added Sales/EMEA (DB02)');
    assert.deepEqual([(await api('POST', '/api/v1/publicfolders', { path: 'Nope/Child' })).json.error, (await api('POST', '/api/v1/publicfolders', { path: 'Sales' })).json.error], ['NO_SUCH_FOLDER', 'FOLDER_EXISTS']);
    assert.match(await ok('publicfolder', 'permission', 'add', 'Sales', '--user', 'demo@example.org', '--role', 'editor'), /demo@example\.org:editor/);
    const byRights = await api('PUT', '/api/v1/publicfolders/permissions', { path: 'Sales', identifier: 'anyone', rights: 'rl' });
    assert.equal(byRights.json.permissions.find((p: { identifier: string }) => p.identifier === 'anyone').role, 'reviewer');
    assert.equal((await api('PUT', '/api/v1/publicfolders/permissions', { path: 'Sales', identifier: 'anyone', rights: 'lrz' })).status, 400);
    // An identifier at the engine's limit is granted (then removed again), one octet more is refused.
    const longest = 'x'.repeat(aclIdentifierBytesMax);
    assert.equal((await api('PUT', '/api/v1/publicfolders/permissions', { path: 'Sales', identifier: longest, rights: 'l' })).status, 200);
    assert.equal((await api('PUT', '/api/v1/publicfolders/permissions', { path: 'Sales', identifier: longest })).status, 200);
    assert.equal((await api('PUT', '/api/v1/publicfolders/permissions', { path: 'Sales', identifier: `${longest}x`, rights: 'l' })).status, 400);
    assert.match(await refused('publicfolder', 'permission', 'add', 'Sales', '--user', 'demo@example.org', '--role', 'boss'), /--role must be one of/);
    assert.match(await ok('publicfolder', 'mail-enable', 'Sales', '--address', 'Sales@example.org'), /mail-enabled Sales \(DB01\) <sales@example\.org>/);
    assert.equal((await api('PUT', '/api/v1/publicfolders/address', { path: 'Sales/EMEA', address: 'demo@example.org' })).json.error, 'USER_EXISTS');
    assert.match((await api('PUT', '/api/v1/publicfolders/address', { path: 'Sales/EMEA', address: 'emea@elsewhere.test' })).json.message, /accepted domain/);

    const listed = JSON.parse(await ok('publicfolder', 'list', '--json')) as Listed[];
    assert.deepEqual(listed.map((f) => [f.path, f.database, f.address]), [['Sales', 'DB01', 'sales@example.org'], ['Sales/EMEA', 'DB02', null]]);
    assert.deepEqual(listed[0]!.permissions, [
      { identifier: 'anonymous', rights: 'p', role: null },
      { identifier: 'anyone', rights: 'lr', role: 'reviewer' },
      { identifier: 'demo@example.org', rights: 'lrswipte', role: 'editor' },
    ]);
    assert.deepEqual(listed[1]!.permissions.map((p) => `${p.identifier}:${p.role ?? p.rights}`), ['anonymous:p', 'anyone:author'], 'the subfolder took the ACL Sales had then');

    const docs = await httpsCall(server.port('https'), server.cert, 'GET', '/api/docs/json');
    const paths = Object.keys(docs.json<{ paths: Record<string, unknown> }>().paths);
    for (const path of ['/api/v1/publicfolders', '/api/v1/publicfolders/permissions', '/api/v1/publicfolders/address']) assert.ok(paths.includes(path), path);

    // Mail to the folder's address is taken at RCPT and lands in the folder.
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.port('smtp'), secure: false, ignoreTLS: true });
    const raw = (subject: string): Buffer => Buffer.from(`From: x@remote.test\r\nTo: sales@example.org\r\nSubject: ${subject}\r\n\r\nhello sales\r\n`);
    const sent = await transport.sendMail({ envelope: { from: 'x@remote.test', to: ['sales@example.org'] }, raw: raw('lead') });
    assert.match(sent.response, /^250 /);
    const folder = await server.server.publicFolders.find('Sales');
    assert.ok(folder.ok && folder.value.folder.messages === 1);
    const stored = await server.server.supervisor.api('DB01').readMessage(folder.value.mailboxId, 'Sales', 1);
    assert.ok(stored.ok);
    assert.match(Buffer.from(stored.value).toString(), /Delivered-To: sales@example\.org[\s\S]*Subject: lead/);
    await assert.rejects(transport.sendMail({ envelope: { from: 'x@remote.test', to: ['nosuch@example.org'] }, raw: raw('nobody') }), /550 5\.1\.1/);
    // Anonymous without the post right: refused at RCPT, as Exchange refuses it.
    assert.equal((await api('PUT', '/api/v1/publicfolders/permissions', { path: 'Sales', identifier: 'anonymous', role: 'none' })).status, 200);
    await assert.rejects(transport.sendMail({ envelope: { from: 'x@remote.test', to: ['sales@example.org'] }, raw: raw('refused') }), /550 5\.7\.1/);
    await ok('publicfolder', 'permission', 'remove', 'Sales', '--user', 'anonymous');
    transport.close();

    assert.equal((await api('DELETE', `/api/v1/publicfolders?path=Sales`)).json.error, 'FOLDER_NOT_EMPTY');
    assert.equal(await ok('publicfolder', 'remove', 'Sales/EMEA'), 'removed Sales/EMEA (DB02)');

    // Offline, on the files: the folders, their ACLs and addresses were durable in the databases.
    await server.stop();
    const offline = JSON.parse(await ok('publicfolder', 'list', '--json')) as Listed[];
    assert.deepEqual(offline.map((f) => [f.path, f.address, f.messages]), [['Sales', 'sales@example.org', 1]]);
    assert.deepEqual(offline[0]!.permissions.map((p) => p.identifier), ['anyone', 'demo@example.org']);
    assert.match(await ok('publicfolder', 'mail-disable', 'Sales'), /mail-disabled Sales \(DB01\)$/);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
