// Proves the admin API on a real server over real TLS: the OpenAPI document at /api/docs lists
// every route, and every documented route refuses a request without the administrator's Bearer
// token (and with a wrong one) with 401; with the token, users, domains, databases, switchover,
// suspend/resume and server health work and bad input gets 400 INVALID_ARGUMENT. The JSON log
// carries a request id on every request line and never a password or a body.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../../test/harness.js';
import { adminCall, httpsCall } from './testing.js';

interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown; tags?: string[] }>>;
  components: { securitySchemes: Record<string, unknown> };
}

test('admin API: documented, every route refuses without the token, works with it, logs no secrets', { timeout: 90_000 }, async () => {
  const lines: string[] = [];
  const quire = await startTestServer({ logDestination: { write: (line: string) => void lines.push(line) } });
  const port = quire.port('https');
  const token = quire.server.adminToken;
  const call = (method: string, path: string, json?: unknown) => adminCall(port, quire.cert, token, method, path, json);
  try {
    const docs = await httpsCall(port, quire.cert, 'GET', '/api/docs/json');
    assert.equal(docs.status, 200);
    const spec = docs.json<OpenApi>();
    assert.match(spec.openapi, /^3\./);
    assert.deepEqual(Object.keys(spec.components.securitySchemes), ['bearer']);
    const ui = await httpsCall(port, quire.cert, 'GET', '/api/docs/');
    assert.equal(ui.status, 200);
    assert.match(ui.text(), /swagger/i);

    const routes = Object.entries(spec.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ path, method: method.toUpperCase() })));
    const expected = ['GET /api/v1/server', 'GET /api/v1/server/history', 'GET /api/v1/databases', 'POST /api/v1/databases/{database}/switchover', 'POST /api/v1/databases/{database}/suspend',
      'POST /api/v1/databases/{database}/resume', 'POST /api/v1/databases/{database}/reseed', 'GET /api/v1/users', 'POST /api/v1/users', 'DELETE /api/v1/users/{address}', 'PUT /api/v1/users/{address}/password',
      'PUT /api/v1/users/{address}/quota', 'GET /api/v1/domains', 'POST /api/v1/domains'];
    for (const route of expected) assert.ok(routes.some((r) => `${r.method} ${r.path}` === route), `documented: ${route}`);
    for (const route of routes) {
      const path = route.path.replace('{database}', 'DB01').replace('{address}', encodeURIComponent(quire.demo.address));
      const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : JSON.stringify({ server: 'MBX1', address: 'x@example.org', password: 'p', quotaBytes: 1, name: 'x.org' });
      const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
      // The last character changed (to one it is not), the token with one more character, the right token as Basic.
      const altered = `${token.slice(0, -1)}${token.endsWith('x') ? 'y' : 'x'}`;
      for (const authorization of [undefined, `Bearer ${altered}`, `Bearer ${token}x`, `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`]) {
        const answer = await httpsCall(port, quire.cert, route.method, path, { headers: { ...headers, ...(authorization === undefined ? {} : { authorization }) }, ...(body === undefined ? {} : { body }) });
        assert.equal(answer.status, 401, `${route.method} ${route.path} with ${authorization?.slice(0, 6) ?? 'no'} credential`);
        assert.equal(answer.json().error, 'AUTHENTICATION_FAILED');
        assert.match(String(answer.headers['www-authenticate']), /^Bearer/);
      }
    }
    // Nothing ran: the user that the refused POST named does not exist.
    assert.ok(!(await call('GET', '/api/v1/users')).json<Array<{ address: string }>>().some((u) => u.address === 'x@example.org'));

    const server = await call('GET', '/api/v1/server');
    assert.equal(server.status, 200);
    assert.equal(server.json().name, 'MBX1');
    assert.deepEqual(server.json().health, { ok: true, unhealthy: [], degraded: [] });

    const secret = 'Zq-very-secret-pw-81723';
    const added = await call('POST', '/api/v1/users', { address: 'carol@example.org', password: secret, database: 'DB02', quotaBytes: 1_000_000 });
    assert.equal(added.status, 201, added.text());
    assert.equal((await call('POST', '/api/v1/users', { address: 'carol@example.org', password: secret })).status, 409);
    assert.equal((await call('POST', '/api/v1/users', { address: 'dave@example.org', password: 'x', database: 'DB09' })).status, 404);
    const invalid = await call('POST', '/api/v1/users', { address: 'dave@example.org' });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json().error, 'INVALID_ARGUMENT');
    assert.equal((await call('POST', '/api/v1/users', { address: 'dave@example.org', password: 'x', extra: 1 })).status, 400, 'unknown fields are refused');
    const users = (await call('GET', '/api/v1/users')).json<Array<{ address: string; database: string; quotaBytes: number | null; usedBytes: number | null }>>();
    const carol = users.find((u) => u.address === 'carol@example.org');
    assert.deepEqual(carol && { database: carol.database, quotaBytes: carol.quotaBytes, usedBytes: carol.usedBytes }, { database: 'DB02', quotaBytes: 1_000_000, usedBytes: 0 });
    assert.equal((await call('PUT', '/api/v1/users/carol%40example.org/password', { password: `${secret}-2` })).status, 200);
    assert.equal((await call('PUT', '/api/v1/users/carol%40example.org/quota', { quotaBytes: null })).status, 200);
    assert.equal((await call('PUT', '/api/v1/users/nobody%40example.org/quota', { quotaBytes: 5 })).status, 404);
    assert.equal((await call('DELETE', '/api/v1/users/carol%40example.org')).status, 200);
    assert.equal((await call('DELETE', '/api/v1/users/carol%40example.org')).status, 404);

    assert.deepEqual((await call('GET', '/api/v1/domains')).json(), ['example.org']);
    assert.equal((await call('POST', '/api/v1/domains', { name: 'example.net' })).status, 201);
    assert.deepEqual(((await call('GET', '/api/v1/domains')).json() as string[]).sort(), ['example.net', 'example.org']);

    const copies = (await call('GET', '/api/v1/databases')).json<Array<{ database: string; copy: number; role: string; state: string }>>();
    assert.equal(copies.length, 4);
    const suspended = await call('POST', '/api/v1/databases/DB02/suspend', { server: 'MBX1', copy: 2 });
    assert.equal(suspended.status, 200, suspended.text());
    assert.equal(suspended.json<typeof copies>().find((c) => c.database === 'DB02' && c.copy === 2)?.state, 'Suspended');
    assert.equal((await call('POST', '/api/v1/databases/DB02/resume', { server: 'MBX1', copy: 2 })).status, 200);
    assert.equal((await call('POST', '/api/v1/databases/DB02/suspend', { server: 'MBX1', copy: 1 })).status, 409, 'an active copy cannot be suspended');
    assert.equal((await call('POST', '/api/v1/databases/DB02/suspend', { copy: 1 })).status, 400);
    const switched = await call('POST', '/api/v1/databases/DB01/switchover', { server: 'MBX1', copy: 2 });
    assert.equal(switched.status, 200, switched.text());
    const after = switched.json<typeof copies>().filter((c) => c.database === 'DB01');
    assert.equal(after.find((c) => c.copy === 2)?.role, 'active');
    assert.equal(after.find((c) => c.copy === 1)?.role, 'passive');
    assert.ok(Array.isArray((await call('GET', '/api/v1/server/history')).json()));
  } finally {
    await quire.stop();
  }
  const log = lines.join('');
  assert.ok(!log.includes('Zq-very-secret-pw'), 'no password in the log');
  assert.ok(!log.includes(token), 'no admin token in the log');
  const requests = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.req !== undefined || entry.res !== undefined);
  assert.ok(requests.length > 20, `request lines logged (${requests.length})`);
  for (const entry of requests) assert.equal(typeof entry.reqId, 'string', `request id on ${JSON.stringify(entry)}`);
});
