// Proves how a data directory chooses its directory: no ldap.json and no flags is the embedded
// one; --ldap-* flags are merged over ldap.json and saved (mode 0600, domains included) only
// when the result is a valid configuration; the bind password comes from a file or the
// environment; a broken ldap.json is an error naming the file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ldapConfigFileName, ldapConfigOf } from './directory.js';

const defaults = { domain: 'example.net', databases: ['DB01', 'DB02'] };

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'quire-dirconf-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('no file and no flags: the embedded directory', () => {
  withDir((dir) => assert.deepEqual(ldapConfigOf(dir, defaults), { ok: true, value: null }));
});

test('flags are saved only when they make a whole configuration', () => {
  withDir((dir) => {
    const file = join(dir, ldapConfigFileName);
    const partial = ldapConfigOf(dir, defaults, { url: 'ldap://127.0.0.1:3389/' });
    assert.equal(!partial.ok && partial.code, 'INVALID_ARGUMENT');
    assert.match(!partial.ok ? partial.message : '', /ldap\.json: LDAP configuration: "bindDn" is required/);
    assert.equal(existsSync(file), false, 'a mistyped start leaves nothing behind');

    writeFileSync(join(dir, 'pw'), 'secret\n');
    const whole = ldapConfigOf(dir, defaults, { url: 'ldap://127.0.0.1:3389/', bindDn: 'cn=q,dc=example,dc=net', bindPasswordFile: join(dir, 'pw'), baseDn: 'dc=example,dc=net' });
    assert.ok(whole.ok && whole.value !== null);
    assert.equal(whole.value.bindPassword, 'secret');
    assert.deepEqual(whole.value.domains, ['example.net']);
    assert.equal(whole.value.defaultDatabase, 'DB01');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved.bindPassword, undefined);
    assert.deepEqual(saved.domains, ['example.net']);

    // The next start needs no flags.
    const again = ldapConfigOf(dir, defaults);
    assert.ok(again.ok && again.value?.url === 'ldap://127.0.0.1:3389/');
  });
});

test('the bind password from the environment; a broken file names itself', () => {
  withDir((dir) => {
    writeFileSync(join(dir, ldapConfigFileName), JSON.stringify({ url: 'ldaps://ldap.example.net:636', bindDn: 'cn=q', baseDn: 'dc=x' }));
    process.env.QUIRE_LDAP_BIND_PASSWORD = 'from-env';
    try {
      const config = ldapConfigOf(dir, defaults);
      assert.ok(config.ok && config.value?.bindPassword === 'from-env');
    } finally {
      delete process.env.QUIRE_LDAP_BIND_PASSWORD;
    }
    writeFileSync(join(dir, ldapConfigFileName), '{ not json');
    const broken = ldapConfigOf(dir, defaults);
    assert.match(!broken.ok ? broken.message : '', /ldap\.json: /);
    writeFileSync(join(dir, ldapConfigFileName), JSON.stringify({ url: 'ldap://h/', bindDn: 'x', bindPassword: 'y', baseDn: 'z', colour: 'blue' }));
    const unknown = ldapConfigOf(dir, defaults);
    assert.match(!unknown.ok ? unknown.message : '', /unknown field "colour"/);
  });
});
