// Proves that scrypt hashes round-trip with the production parameters, refuse wrong passwords and malformed hashes, and report when to re-hash.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PasswordHasher, isPasswordHash, productionScryptParams } from './password.js';

const bytes = (n: number): Uint8Array => randomBytes(n);

test('production parameters round-trip', async () => {
  const hasher = new PasswordHasher(bytes);
  assert.deepEqual(hasher.params, { ln: 15, r: 8, p: 1 });
  const hash = await hasher.hash('correct horse');
  assert.match(hash, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.equal(await hasher.verify('correct horse', hash), true);
  assert.equal(await hasher.verify('correct horsE', hash), false);
  assert.equal(hasher.needsRehash(hash), false);
});

test('cheap parameters, rehash and malformed hashes', async () => {
  const cheap = new PasswordHasher(bytes, { ln: 10, r: 8, p: 1 });
  const hash = await cheap.hash('pw');
  assert.equal(isPasswordHash(hash), true);
  assert.notEqual(hash, await cheap.hash('pw'), 'salted');
  const production = new PasswordHasher(bytes, productionScryptParams);
  assert.equal(await production.verify('pw', hash), true, 'old parameters still verify');
  assert.equal(production.needsRehash(hash), true);
  for (const bad of ['', 'plain', '$scrypt$ln=99,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', hash.slice(0, -5)]) {
    assert.equal(await cheap.verify('pw', bad), false);
    assert.equal(cheap.needsRehash(bad), true);
  }
  assert.equal(await cheap.verifyDummy('pw'), false);
  assert.equal(isPasswordHash(cheap.dummyHash), true);
});
