import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginThrottle, createFrontEndContext, throttleDefault } from './frontend.js';
import { startTestServer } from '../test/harness.js';

test('the login throttle slows a key after the free failures, doubling up to the cap, and forgets', () => {
  let now = 0;
  const throttle = new LoginThrottle(() => now, { ...throttleDefault, failuresFree: 2, delayMsBase: 100, delayMsMax: 400, windowMs: 1_000, keysMax: 3 });
  const keys = ['address:10.0.0.1', 'login:a@example.org'];
  assert.equal(throttle.delayMs(keys), 0);
  throttle.failed(keys);
  throttle.failed(keys);
  assert.equal(throttle.delayMs(keys), 0, 'at the limit of free failures: no delay');
  throttle.failed(keys);
  assert.equal(throttle.delayMs(keys), 100, 'limit + 1: the base delay');
  throttle.failed(keys);
  assert.equal(throttle.delayMs(keys), 200);
  for (let i = 0; i < 10; i++) throttle.failed(keys);
  assert.equal(throttle.delayMs(keys), 400, 'capped');
  assert.equal(throttle.delayMs(['address:10.0.0.1']), 400, 'per address alone');
  throttle.succeeded('login:a@example.org');
  assert.equal(throttle.delayMs(['login:a@example.org']), 0, 'a good login clears the user');
  assert.equal(throttle.delayMs(['address:10.0.0.1']), 400, 'but not the address');
  now += 1_001;
  assert.equal(throttle.delayMs(keys), 0, 'forgotten after the window');
  for (let i = 0; i < 10; i++) throttle.failed([`address:10.0.1.${i}`]);
  assert.equal(throttle.size, 3, 'memory is bounded by keysMax');
});

test('a running server hands front ends a context that logs in, resolves, limits sessions and slows failures', async () => {
  const quire = await startTestServer();
  try {
    const slept: number[] = [];
    const context = createFrontEndContext({
      directory: quire.server.directory,
      mailboxes: (database) => quire.server.supervisor.api(database),
      hostname: 'localhost',
      serverName: 'MBX1',
      tls: { cert: quire.cert, key: '' },
      limits: { sessionsPerUser: 2, connectionsPerAddress: 1, connectionsPerPort: 1, idleMs: 1_000, messageBytesMax: 1_000 },
      throttle: { ...throttleDefault, failuresFree: 1 },
      sleep: async (ms) => void slept.push(ms),
    });
    const peer = { protocol: 'imap' as const, address: '127.0.0.1' };
    const good = await context.authenticate(quire.demo.address, quire.demo.password, peer);
    assert.ok(good.ok);
    assert.equal(good.value.address, quire.demo.address);
    assert.equal(good.value.database, 'DB01');
    const bad = await context.authenticate(quire.demo.address, 'wrong', peer);
    assert.equal(!bad.ok && bad.code, 'AUTHENTICATION_FAILED');
    const unknown = await context.authenticate('nobody@example.org', 'wrong', peer);
    assert.equal(!unknown.ok && unknown.code, 'AUTHENTICATION_FAILED');
    assert.deepEqual(slept, [], 'one free failure per key, so no wait yet');
    await context.authenticate(quire.demo.address, 'wrong', peer);
    assert.deepEqual(slept, [throttleDefault.delayMsBase], 'the address has failed twice: slowed');

    const recipients = await context.resolveRecipient(quire.demo.address.toUpperCase());
    assert.ok(recipients.ok);
    assert.deepEqual(recipients.value.map((a) => a.address), [quire.demo.address]);
    const nobody = await context.resolveRecipient('nobody@example.org');
    assert.equal(!nobody.ok && nobody.code, 'NO_SUCH_USER');
    assert.deepEqual(await context.isAcceptedDomain('example.org'), { ok: true, value: true });
    assert.deepEqual(await context.isAcceptedDomain('example.com'), { ok: true, value: false });

    const first = context.openSession(good.value, peer);
    const second = context.openSession(good.value, peer);
    assert.ok(first.ok && second.ok);
    const third = context.openSession(good.value, peer);
    assert.equal(!third.ok && third.code, 'LIMIT', 'limit + 1 sessions is refused');
    first.value.release();
    first.value.release();
    const again = context.openSession(good.value, peer);
    assert.ok(again.ok, 'a released lease frees its place, once');
    assert.equal(context.openSession(good.value, peer).ok, false);

    const folders = await context.mailboxes('DB01').folders(good.value.mailboxId);
    assert.ok(folders.ok);
    assert.ok(folders.value.some((f) => f.name === 'INBOX'));
    assert.ok(quire.port('https') > 0 && quire.port('http') > 0);
  } finally {
    await quire.stop();
  }
});
