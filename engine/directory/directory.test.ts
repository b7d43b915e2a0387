// Proves that address, domain, quota and size validation accept inputs at each limit and refuse limit + 1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressBytesMax, localPartBytesMax, passwordBytesMax } from './constants.js';
import { normalizeAddress, normalizeDomain, parseSize, validatePassword, validateQuota } from './directory.js';

test('addresses are lower-cased and checked', () => {
  assert.deepEqual(normalizeAddress(' Alice@Example.ORG '), { ok: true, value: 'alice@example.org' });
  for (const bad of ['', 'alice', '@example.org', 'alice@', 'a b@example.org', 'alice@exa_mple.org', 'a..b@example.org', 'alice@-x.org']) {
    const result = normalizeAddress(bad);
    assert.equal(result.ok, false, bad);
    assert.equal(!result.ok && result.code, 'INVALID_ARGUMENT');
  }
});

test('address length at the limit and limit + 1', () => {
  const domain = `${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(57)}.org`; // 189
  const atLimit = `${'a'.repeat(addressBytesMax - domain.length - 1)}@${domain}`;
  assert.equal(atLimit.length, addressBytesMax);
  assert.equal(normalizeAddress(atLimit).ok, true);
  const tooLong = normalizeAddress(atLimit.replace('.org', 'f.org'));
  assert.equal(!tooLong.ok && tooLong.message, 'address is longer than 254 characters');
  assert.equal(normalizeAddress(`${'a'.repeat(localPartBytesMax)}@example.org`).ok, true);
  assert.equal(normalizeAddress(`${'a'.repeat(localPartBytesMax + 1)}@example.org`).ok, false);
  assert.equal(normalizeDomain(`${'x'.repeat(63)}.org`).ok, true);
  assert.equal(normalizeDomain(`${'x'.repeat(64)}.org`).ok, false);
});

test('passwords and quotas at their limits', () => {
  assert.equal(validatePassword('x'.repeat(passwordBytesMax)).ok, true);
  assert.equal(validatePassword('x'.repeat(passwordBytesMax + 1)).ok, false);
  assert.equal(validatePassword('').ok, false);
  assert.deepEqual(validateQuota(null), { ok: true, value: null });
  assert.equal(validateQuota(-1).ok, false);
  assert.equal(validateQuota(1.5).ok, false);
  assert.equal(validateQuota(2 ** 50).ok, true);
  assert.equal(validateQuota(2 ** 50 + 1).ok, false);
});

test('parseSize', () => {
  assert.deepEqual(parseSize('1024'), { ok: true, value: 1024 });
  assert.deepEqual(parseSize('500M'), { ok: true, value: 500 * 1024 * 1024 });
  assert.deepEqual(parseSize('2G'), { ok: true, value: 2 * 1024 ** 3 });
  assert.deepEqual(parseSize('2gb'), { ok: true, value: 2 * 1024 ** 3 });
  assert.deepEqual(parseSize('unlimited'), { ok: true, value: null });
  assert.deepEqual(parseSize('1024T'), { ok: true, value: 2 ** 50 });
  for (const bad of ['', '1.5G', '-1', '2X', 'G', '1025T', '99999999999999999']) {
    const result = parseSize(bad);
    assert.equal(result.ok, false, bad);
    assert.equal(!result.ok && result.code, 'INVALID_ARGUMENT');
  }
});
