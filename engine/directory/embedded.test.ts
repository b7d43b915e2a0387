// Proves the embedded directory's round trips (users, passwords, quotas, aliases, groups),
// that its log survives restart, torn tails and compaction, refuses corruption with the
// file and line, and that its lock admits one process at a time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Result } from '../errors.js';
import { nodeStorage, type Storage } from '../io.js';
import { groupDepthMax } from './constants.js';
import { EmbeddedDirectory, directoryFolderName, lockFileName, logFileName, openEmbeddedDirectory } from './embedded.js';
import { inDataDir, testOptions } from './testing.js';

function value<T>(result: Result<T>): T {
  assert.equal(result.ok, true, result.ok ? '' : `${result.code}: ${result.message}`);
  return (result as { value: T }).value;
}

function code(result: Result<unknown>): string {
  return result.ok ? 'ok' : result.code;
}

async function withDirectory(fn: (directory: EmbeddedDirectory, dataDir: string) => Promise<void>): Promise<void> {
  await inDataDir(async (dir) => {
    const directory = value(await openEmbeddedDirectory(dir, testOptions()));
    try {
      await fn(directory, dir);
    } finally {
      await directory.close();
    }
  });
}

const logPath = (dataDir: string): string => path.join(dataDir, directoryFolderName, logFileName);

test('domains and users: add, list, find, authenticate, passwd, quota, remove', () =>
  withDirectory(async (directory) => {
    assert.equal(await directory.version(), 0);
    value(await directory.addDomain('Example.ORG'));
    assert.equal(code(await directory.addDomain('example.org')), 'USER_EXISTS');
    assert.deepEqual(await directory.listDomains(), ['example.org']);
    assert.equal(await directory.isAcceptedDomain('EXAMPLE.org'), true);
    assert.equal(await directory.isAcceptedDomain('example.net'), false);

    const alice = value(await directory.addUser({ address: 'Alice@Example.org', password: 'secret-1', database: 'DB01' }));
    assert.equal(alice.address, 'alice@example.org');
    assert.match(alice.mailboxId, /^[0-9a-f]{32}$/);
    assert.equal(alice.quotaBytes, null);
    assert.equal(alice.displayName, 'alice');
    assert.equal(code(await directory.addUser({ address: 'alice@example.org', password: 'x', database: 'DB01' })), 'USER_EXISTS');
    const unknownDomain = await directory.addUser({ address: 'bob@example.net', password: 'x', database: 'DB01' });
    assert.equal(code(unknownDomain), 'INVALID_ARGUMENT');
    assert.match(!unknownDomain.ok ? unknownDomain.message : '', /example\.net is not an accepted domain/);
    assert.equal(code(await directory.addUser({ address: 'bob@example.org', password: '', database: 'DB01' })), 'INVALID_ARGUMENT');
    assert.equal(code(await directory.addUser({ address: 'bob@example.org', password: 'x', database: 'DB 01' })), 'INVALID_ARGUMENT');
    value(await directory.addUser({ address: 'bob@example.org', password: 'pw-bob', database: 'DB02', quotaBytes: 1024, displayName: 'Bob B' }));
    assert.deepEqual((await directory.listUsers()).map((u) => [u.address, u.database, u.quotaBytes, u.displayName]),
      [['alice@example.org', 'DB01', null, 'alice'], ['bob@example.org', 'DB02', 1024, 'Bob B']]);

    assert.equal(value(await directory.authenticate('ALICE@example.org', 'secret-1')).mailboxId, alice.mailboxId);
    const bad = await directory.authenticate('alice@example.org', 'wrong');
    const unknown = await directory.authenticate('nobody@example.org', 'secret-1');
    assert.deepEqual(bad, unknown, 'an unknown login and a bad password look the same');
    assert.equal(code(bad), 'AUTHENTICATION_FAILED');
    assert.equal(code(await directory.authenticate('not an address', 'x')), 'AUTHENTICATION_FAILED');

    value(await directory.setPassword('alice@example.org', 'secret-2'));
    assert.equal(code(await directory.authenticate('alice@example.org', 'secret-1')), 'AUTHENTICATION_FAILED');
    value(await directory.authenticate('alice@example.org', 'secret-2'));
    value(await directory.setQuota('alice@example.org', 2048));
    assert.equal((await directory.findUser('alice@example.org'))?.quotaBytes, 2048);
    assert.equal(code(await directory.setQuota('nobody@example.org', 1)), 'NO_SUCH_USER');
    assert.equal(code(await directory.setQuota('alice@example.org', -1)), 'INVALID_ARGUMENT');

    const removed = value(await directory.removeUser('bob@example.org'));
    assert.equal(removed.database, 'DB02');
    assert.equal(await directory.findUser('bob@example.org'), null);
    assert.equal(code(await directory.removeUser('bob@example.org')), 'NO_SUCH_USER');
    assert.equal(code(await directory.authenticate('bob@example.org', 'pw-bob')), 'AUTHENTICATION_FAILED');
    // domain, alice, bob, password, quota, remove: six changes; refused calls change nothing.
    assert.equal(await directory.version(), 6);
  }));

test('address length at the limit and limit + 1 through addUser', () =>
  withDirectory(async (directory) => {
    const domain = `${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(57)}.org`;
    const longer = domain.replace('.org', 'f.org');
    value(await directory.addDomain(domain));
    value(await directory.addDomain(longer));
    const local = 'a'.repeat(254 - domain.length - 1);
    const atLimit = value(await directory.addUser({ address: `${local}@${domain}`, password: 'pw', database: 'DB01' }));
    assert.equal(atLimit.address.length, 254);
    assert.equal(code(await directory.addUser({ address: `${local}@${longer}`, password: 'pw', database: 'DB01' })), 'INVALID_ARGUMENT');
  }));

test('aliases and groups: nested, loops, de-duplication, depth cap', () =>
  withDirectory(async (directory) => {
    value(await directory.addDomain('example.org'));
    for (const name of ['alice', 'bob', 'carol']) {
      value(await directory.addUser({ address: `${name}@example.org`, password: 'pw', database: 'DB01' }));
    }
    value(await directory.addAlias('Al@example.org', 'alice@example.org'));
    assert.equal(code(await directory.addAlias('al@example.org', 'bob@example.org')), 'USER_EXISTS');
    assert.equal(code(await directory.addAlias('bob@example.org', 'alice@example.org')), 'USER_EXISTS');
    assert.equal(code(await directory.addAlias('x@example.org', 'nobody@example.org')), 'NO_SUCH_USER');
    assert.equal(code(await directory.addAlias('x@other.org', 'alice@example.org')), 'INVALID_ARGUMENT');
    assert.equal((await directory.findUser('AL@example.org'))?.address, 'alice@example.org');
    assert.deepEqual((await directory.findUser('alice@example.org'))?.aliases, ['al@example.org']);
    assert.deepEqual(value(await directory.resolveRecipient('al@example.org')).map((u) => u.address), ['alice@example.org']);
    assert.equal(code(await directory.authenticate('al@example.org', 'pw')), 'AUTHENTICATION_FAILED', 'login is the primary address');

    value(await directory.addGroup('team@example.org', ['al@example.org', 'bob@example.org', 'alice@example.org']));
    value(await directory.addGroup('all@example.org', ['team@example.org', 'carol@example.org', 'bob@example.org']));
    assert.equal(code(await directory.addGroup('x@example.org', ['nobody@example.org'])), 'INVALID_ARGUMENT');
    assert.equal(code(await directory.addGroup('team@example.org', ['bob@example.org'])), 'USER_EXISTS');
    const all = value(await directory.resolveRecipient('all@example.org')).map((u) => u.address).sort();
    assert.deepEqual(all, ['alice@example.org', 'bob@example.org', 'carol@example.org']);
    assert.equal(await directory.findUser('team@example.org'), null, 'groups are not users');

    // A loop: team -> all -> team. Expansion visits each group once.
    value(await directory.removeGroup('team@example.org'));
    assert.deepEqual(value(await directory.resolveRecipient('all@example.org')).map((u) => u.address).sort(),
      ['bob@example.org', 'carol@example.org'], 'a dangling member is skipped');
    value(await directory.addGroup('team@example.org', ['all@example.org', 'alice@example.org']));
    assert.deepEqual(value(await directory.resolveRecipient('team@example.org')).map((u) => u.address).sort(),
      ['alice@example.org', 'bob@example.org', 'carol@example.org']);

    // Depth: a chain of groupDepthMax groups resolves, one more is refused.
    value(await directory.addGroup('g0@example.org', ['carol@example.org']));
    for (let i = 1; i <= groupDepthMax; i++) value(await directory.addGroup(`g${i}@example.org`, [`g${i - 1}@example.org`]));
    assert.equal(value(await directory.resolveRecipient(`g${groupDepthMax - 1}@example.org`)).length, 1);
    assert.equal(code(await directory.resolveRecipient(`g${groupDepthMax}@example.org`)), 'LIMIT');

    assert.equal(code(await directory.resolveRecipient('nobody@example.org')), 'NO_SUCH_USER');
    value(await directory.addGroup('empty@example.org', []));
    assert.equal(code(await directory.resolveRecipient('empty@example.org')), 'NO_SUCH_USER');

    // Removing a user takes its aliases with it.
    value(await directory.removeUser('alice@example.org'));
    assert.equal(await directory.findUser('al@example.org'), null);
    value(await directory.addAlias('al@example.org', 'bob@example.org'));
    value(await directory.removeAlias('al@example.org'));
    assert.equal(code(await directory.removeAlias('al@example.org')), 'NO_SUCH_USER');
    assert.deepEqual((await directory.listGroups()).map((g) => g.address)[0], 'all@example.org');
  }));

async function populate(directory: EmbeddedDirectory): Promise<void> {
  value(await directory.addDomain('example.org'));
  value(await directory.addUser({ address: 'alice@example.org', password: 'pw-a', database: 'DB01', quotaBytes: 10 }));
  value(await directory.addUser({ address: 'bob@example.org', password: 'pw-b', database: 'DB02' }));
  value(await directory.addAlias('al@example.org', 'alice@example.org'));
  value(await directory.addGroup('team@example.org', ['al@example.org', 'bob@example.org']));
}

async function snapshot(directory: EmbeddedDirectory): Promise<unknown> {
  return {
    domains: await directory.listDomains(),
    users: await directory.listUsers(),
    groups: await directory.listGroups(),
    version: await directory.version(),
  };
}

test('restart: close and reopen give the same state', async () => {
  await inDataDir(async (dir) => {
    const first = value(await openEmbeddedDirectory(dir, testOptions()));
    await populate(first);
    const before = await snapshot(first);
    await first.close();
    const second = value(await openEmbeddedDirectory(dir, testOptions(2)));
    assert.deepEqual(await snapshot(second), before);
    value(await second.authenticate('alice@example.org', 'pw-a'));
    await second.close();
  });
});

test('a torn last line is cut off; writing goes on after it', async () => {
  await inDataDir(async (dir) => {
    const first = value(await openEmbeddedDirectory(dir, testOptions()));
    await populate(first);
    const before = await snapshot(first);
    await first.close();
    const sizeGood = statSync(logPath(dir)).size;
    appendFileSync(logPath(dir), '0badc0de {"seq":6,"atMs":1,"event":{"type":"domain.a');
    const second = value(await openEmbeddedDirectory(dir, testOptions(2)));
    assert.deepEqual(await snapshot(second), before);
    assert.equal(statSync(logPath(dir)).size, sizeGood);
    value(await second.addDomain('example.net'));
    await second.close();
    const third = value(await openEmbeddedDirectory(dir, testOptions(3)));
    assert.deepEqual(await third.listDomains(), ['example.net', 'example.org']);
    await third.close();
  });
});

test('a corrupt line in the middle is refused with the file and line', async () => {
  await inDataDir(async (dir) => {
    const first = value(await openEmbeddedDirectory(dir, testOptions()));
    await populate(first);
    await first.close();
    const lines = readFileSync(logPath(dir), 'utf8').split('\n');
    lines[2] = lines[2]!.replace('alice', 'alicf'); // line 3: a bit flip inside the JSON
    writeFileSync(logPath(dir), lines.join('\n'));
    const opened = await openEmbeddedDirectory(dir, testOptions());
    assert.equal(code(opened), 'CORRUPT');
    assert.equal(!opened.ok && opened.message, `${logPath(dir)} line 3: checksum mismatch`);
    // The failed open released the lock.
    assert.throws(() => statSync(path.join(dir, directoryFolderName, lockFileName)));

    // A well-formed line that does not fit (a duplicated record) is refused too.
    lines[2] = lines[3]!;
    writeFileSync(logPath(dir), lines.join('\n'));
    const again = await openEmbeddedDirectory(dir, testOptions());
    assert.equal(code(again), 'CORRUPT');
    assert.match(!again.ok ? again.message : '', /line 3: seq 3 where 2 was expected/);
  });
});

test('the lock: a second open is refused, a dead owner\'s lock is taken over', async () => {
  await inDataDir(async (dir) => {
    const first = value(await openEmbeddedDirectory(dir, testOptions()));
    const second = await openEmbeddedDirectory(dir, testOptions());
    assert.equal(code(second), 'DIRECTORY_UNAVAILABLE');
    assert.match(!second.ok ? second.message : '', new RegExp(`directory is locked by process ${process.pid}`));
    await first.close();

    const exited = spawnSync(process.execPath, ['-e', '']);
    assert.ok(exited.pid !== undefined && exited.pid > 0);
    writeFileSync(path.join(dir, directoryFolderName, lockFileName), `${exited.pid}\n`);
    const third = value(await openEmbeddedDirectory(dir, testOptions()));
    assert.equal(readFileSync(path.join(dir, directoryFolderName, lockFileName), 'utf8'), `${process.pid}\n`);
    await third.close();
    assert.throws(() => statSync(path.join(dir, directoryFolderName, lockFileName)), 'close removes the lock');
  });
});

test('compaction keeps the state and the version, and shrinks the log', async () => {
  await inDataDir(async (dir) => {
    const options = testOptions(1, { compactionRecordsMin: 40 });
    const first = value(await openEmbeddedDirectory(dir, options));
    await populate(first);
    let largest = 0;
    for (let i = 0; i < 60; i++) {
      value(await first.setQuota('bob@example.org', i));
      largest = Math.max(largest, statSync(logPath(dir)).size);
    }
    const before = await snapshot(first);
    assert.equal((before as { version: number }).version, 65);
    assert.ok(statSync(logPath(dir)).size < largest, 'the log was compacted');
    value(await first.compact());
    const lines = readFileSync(logPath(dir), 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 6, 'header + domain + 2 users + alias + group');
    await first.close();
    const second = value(await openEmbeddedDirectory(dir, testOptions(2)));
    assert.deepEqual(await snapshot(second), before);
    value(await second.authenticate('bob@example.org', 'pw-b'));
    value(await second.setQuota('bob@example.org', null));
    assert.equal(await second.version(), 66);
    await second.close();
  });
});

test('a login re-hashes a password made with older parameters', async () => {
  await inDataDir(async (dir) => {
    const first = value(await openEmbeddedDirectory(dir, testOptions()));
    await populate(first);
    await first.close();
    const second = value(await openEmbeddedDirectory(dir, testOptions(2, { scrypt: { ln: 11, r: 8, p: 1 } })));
    const version = await second.version();
    value(await second.authenticate('alice@example.org', 'pw-a'));
    assert.equal(await second.version(), version + 1, 'the new hash was written');
    assert.match(readFileSync(logPath(dir), 'utf8'), /\$scrypt\$ln=11,r=8,p=1\$/);
    value(await second.authenticate('alice@example.org', 'pw-a'));
    assert.equal(await second.version(), version + 1, 'only once');
    await second.close();
  });
});

test('changes run in call order even when issued together', () =>
  withDirectory(async (directory) => {
    value(await directory.addDomain('example.org'));
    const results = await Promise.all([
      directory.addUser({ address: 'x@example.org', password: 'pw', database: 'DB01' }),
      directory.addUser({ address: 'x@example.org', password: 'pw', database: 'DB02' }),
      directory.removeUser('x@example.org'),
    ]);
    assert.deepEqual(results.map(code), ['ok', 'USER_EXISTS', 'ok']);
  }));

/** Node storage whose next `write` puts half its bytes down and then fails with ENOSPC. */
function storageFailingOnce(): { storage: Storage; arm: () => void } {
  const inner = nodeStorage();
  let armed = false;
  const storage: Storage = {
    ...inner,
    async open(file, options) {
      const opened = await inner.open(file, options);
      return {
        path: opened.path,
        size: () => opened.size(),
        read: (offset, length) => opened.read(offset, length),
        async write(offset, data) {
          if (!armed) return opened.write(offset, data);
          armed = false;
          await opened.write(offset, data.subarray(0, data.length >> 1));
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        },
        sync: () => opened.sync(),
        truncate: (size) => opened.truncate(size),
        close: () => opened.close(),
      };
    },
  };
  return { storage, arm: () => (armed = true) };
}

test('a failed append is taken back out: DISK_FULL, nothing applied, the log stays readable', async () => {
  await inDataDir(async (dir) => {
    const faulty = storageFailingOnce();
    const first = value(await openEmbeddedDirectory(dir, testOptions(1, { storage: faulty.storage })));
    await populate(first);
    const before = await snapshot(first);
    const sizeBefore = statSync(logPath(dir)).size;
    faulty.arm();
    assert.equal(code(await first.setQuota('bob@example.org', 5)), 'DISK_FULL');
    assert.deepEqual(await snapshot(first), before);
    assert.equal(statSync(logPath(dir)).size, sizeBefore);
    value(await first.setQuota('bob@example.org', 6));
    await first.close();
    const second = value(await openEmbeddedDirectory(dir, testOptions(2)));
    assert.equal((await second.findUser('bob@example.org'))?.quotaBytes, 6);
    await second.close();
  });
});
