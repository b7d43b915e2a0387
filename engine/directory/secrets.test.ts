// Proves that generated passwords are uniform base62 of the asked length, and that the TLS
// certificate is generated once into the data directory (key 0600), served by node:tls,
// verified by a client that trusts it for localhost, and that operator files are checked.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { seededPrng } from '../io.js';
import { ensureTlsCertificate, generatePassword, tlsCertFileName, tlsFolderName, tlsKeyFileName } from './secrets.js';
import { inDataDir, tempDataDir } from './testing.js';

test('generatePassword', () => {
  const prng = seededPrng(7);
  const one = generatePassword((n) => prng.bytes(n));
  assert.match(one, /^[A-Za-z0-9]{20}$/);
  assert.notEqual(one, generatePassword((n) => prng.bytes(n)));
  assert.equal(generatePassword((n) => prng.bytes(n), 64).length, 64);
  // Bytes at or above 248 are rejected, never folded onto the first characters.
  assert.equal(generatePassword((n) => new Uint8Array(n).fill(255).map((v, i) => (i % 2 === 0 ? v : 1)), 3), 'BBB');
});

function connect(port: number, options: tls.ConnectionOptions): Promise<{ authorized: boolean; reply: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', ...options }, () => {
      let reply = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => (reply += chunk));
      socket.on('end', () => resolve({ authorized: socket.authorized, reply }));
    });
    socket.on('error', reject);
  });
}

test('ensureTlsCertificate generates once, serves TLS and verifies for localhost', async () => {
  await inDataDir(async (dir) => {
    const made = await ensureTlsCertificate(dir);
    assert.ok(made.ok);
    assert.equal(made.value.generated, true);
    const keyPath = path.join(dir, tlsFolderName, tlsKeyFileName);
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    const x509 = new X509Certificate(made.value.cert);
    assert.equal(x509.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 86_400_000;
    assert.ok(days >= 824 && days <= 825, `validity ${days} days`);
    assert.match(made.value.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

    const again = await ensureTlsCertificate(dir);
    assert.ok(again.ok);
    assert.equal(again.value.generated, false);
    assert.equal(again.value.fingerprintSha256, made.value.fingerprintSha256);

    const server = tls.createServer({ cert: made.value.cert, key: made.value.key }, (socket) => socket.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      assert.deepEqual(await connect(port, { rejectUnauthorized: false }), { authorized: false, reply: 'hello' });
      assert.deepEqual(await connect(port, { ca: made.value.cert, servername: 'localhost' }), { authorized: true, reply: 'hello' });
      await assert.rejects(connect(port, { ca: made.value.cert, servername: 'mail.example.org' }), /altnames/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

test('operator files: both or neither, readable, matching', async () => {
  const { dir, cleanup } = tempDataDir();
  const other = tempDataDir();
  try {
    const made = await ensureTlsCertificate(dir);
    const theirs = await ensureTlsCertificate(other.dir);
    assert.ok(made.ok && theirs.ok);
    const certPath = path.join(dir, tlsFolderName, tlsCertFileName);
    const keyPath = path.join(dir, tlsFolderName, tlsKeyFileName);

    const given = await ensureTlsCertificate(other.dir, { certPath, keyPath });
    assert.ok(given.ok);
    assert.equal(given.value.fingerprintSha256, made.value.fingerprintSha256);
    assert.equal(given.value.generated, false);

    const half = await ensureTlsCertificate(dir, { certPath });
    assert.equal(!half.ok && half.code, 'INVALID_ARGUMENT');
    const missing = await ensureTlsCertificate(dir, { certPath: `${certPath}.nope`, keyPath });
    assert.match(!missing.ok ? missing.message : '', /cannot read TLS certificate .*ENOENT/);
    const mismatched = await ensureTlsCertificate(dir, { certPath, keyPath: path.join(other.dir, tlsFolderName, tlsKeyFileName) });
    assert.match(!mismatched.ok ? mismatched.message : '', /does not belong to certificate/);

    // Half a pair in the data directory is not silently replaced.
    writeFileSync(keyPath, 'garbage');
    rmSync(certPath);
    const lone = await ensureTlsCertificate(dir);
    assert.match(!lone.ok ? lone.message : '', /cert\.pem is missing beside/);
    assert.equal(readFileSync(keyPath, 'utf8'), 'garbage');
  } finally {
    cleanup();
    other.cleanup();
  }
});
