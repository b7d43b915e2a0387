// Proves the LDAP directory against a real OpenLDAP slapd (scripts/services, seeded with
// slapadd): logins by bind, lookups by mail and alias, groups expanded recursively with the
// caps, values escaped against filter injection, the lookup cache's time limit, a read-only
// answer to writes, and DIRECTORY_UNAVAILABLE (never "not found") when LDAP is down or hangs.
// It fails, never skips, when slapd cannot be started.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { Change, Attribute, Client } from 'ldapts';
import { QuireError } from '../errors.js';
import { ldapBaseDn, ldapDefaultUsers, ldapRootDn, ldapUserDn, type OpenldapHandle } from '../../scripts/services/services.js';
import { addressFilter, LdapDirectory, mailboxIdOf, parseLdapConfig } from './ldap.js';
import { ldapDave, ldapTestConfig, startTestLdap } from './ldap-testing.js';

let slapd: OpenldapHandle;
const directories: LdapDirectory[] = [];

function open(overrides: Record<string, unknown> = {}, clock = { nowMs: () => 1_000 }): LdapDirectory {
  const directory = new LdapDirectory(ldapTestConfig(slapd, overrides), { clock });
  directories.push(directory);
  return directory;
}

async function asRoot<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: slapd.url });
  try {
    await client.bind(ldapRootDn, slapd.rootPassword);
    return await work(client);
  } finally {
    await client.unbind();
  }
}

before(async () => {
  slapd = await startTestLdap();
});

after(async () => {
  await Promise.all(directories.map((d) => d.close()));
  await slapd?.stop();
});

test('logins bind as the user: right password in, wrong password, unknown user and empty password out alike', async () => {
  const directory = open();
  const alice = await directory.authenticate('Alice@Example.org', 'alice-pw');
  assert.ok(alice.ok, JSON.stringify(alice));
  assert.equal(alice.value.address, 'alice@example.org');
  assert.deepEqual(alice.value.aliases, ['a.liddell@example.org', 'postmaster@example.org']);
  assert.equal(alice.value.displayName, 'Alice Test');
  assert.equal(alice.value.database, 'DB01');
  assert.equal(alice.value.quotaBytes, null);
  assert.match(alice.value.mailboxId, /^[0-9a-f]{32}$/);
  for (const [login, password] of [['a.liddell@example.org', 'alice-pw'] /* the login is the primary address, as in the embedded directory */, ['alice@example.org', 'bob-pw'], ['nobody@example.org', 'alice-pw'], ['alice@example.org', ''], ['not an address', 'x'], ['staff@example.org', 'x']]) {
    const refused = await directory.authenticate(login!, password!);
    assert.equal(!refused.ok && refused.code, 'AUTHENTICATION_FAILED', `${login} / ${password}`);
  }
});

test('users found by mail and by the alias attribute; mapped database, quota and entryUUID mailbox id', async () => {
  const directory = open();
  const bob = await directory.findUser('robert@example.org');
  assert.equal(bob?.address, 'bob@example.org');
  const dave = await directory.findUser('dave@example.org');
  assert.equal(dave?.database, ldapDave.database);
  assert.equal(dave?.quotaBytes, 500 * 1024 * 1024);
  const uuid = await asRoot(async (c) => (await c.search(ldapUserDn('dave'), { scope: 'base', attributes: ['entryUUID'] })).searchEntries[0]!.entryUUID as string);
  assert.equal(dave?.mailboxId, uuid.replace(/-/g, ''));
  assert.equal(await directory.findUser('nomail@example.org'), null);
  assert.equal(await directory.findUser('staff@example.org'), null, 'a group is not a user');
  const users = await directory.listUsers();
  assert.deepEqual(users.map((u) => u.address), ['alice@example.org', 'bob@example.org', 'carol@example.org', 'dave@example.org', 'dup2@example.org', 'dup@example.org', 'trip2@example.org', 'trip3@example.org', 'trip@example.org'].sort());
  const groups = await directory.listGroups();
  assert.deepEqual(groups.find((g) => g.address === 'staff@example.org')?.members, ['alice@example.org', 'bob@example.org', 'carol@example.org']);
});

test('groups expand recursively: nested, looping, stale members skipped, de-duplicated; too deep is LIMIT', async () => {
  const directory = open();
  const staff = await directory.resolveRecipient('staff@example.org');
  assert.ok(staff.ok);
  assert.deepEqual(staff.value.map((u) => u.address).sort(), ['alice@example.org', 'bob@example.org', 'carol@example.org']);
  const all = await directory.resolveRecipient('all@example.org');
  assert.ok(all.ok, JSON.stringify(all));
  assert.deepEqual(all.value.map((u) => u.address).sort(), ['alice@example.org', 'bob@example.org', 'carol@example.org', 'dave@example.org']);
  const ops = await directory.resolveRecipient('ops@example.org');
  assert.ok(ops.ok);
  assert.equal(ops.value.length, 4, 'ops -> all -> ops loop expanded once');
  // Eight levels are allowed (d2 -> ... -> d9 -> carol), nine are not.
  const eight = await directory.resolveRecipient('d2@example.org');
  assert.ok(eight.ok, JSON.stringify(eight));
  assert.deepEqual(eight.value.map((u) => u.address), ['carol@example.org']);
  const nine = await directory.resolveRecipient('d1@example.org');
  assert.equal(!nine.ok && nine.code, 'LIMIT');
  const empty = await directory.resolveRecipient('empty@example.org');
  assert.equal(!empty.ok && empty.code, 'NO_SUCH_USER');
  const alias = await directory.resolveRecipient('postmaster@example.org');
  assert.ok(alias.ok);
  assert.deepEqual(alias.value.map((u) => u.address), ['alice@example.org']);
  const unknown = await directory.resolveRecipient('nobody@example.org');
  assert.equal(!unknown.ok && unknown.code, 'NO_SUCH_USER');
});

test('filter injection: every user value is escaped, on the wire and against the real server', async () => {
  const config = parseLdapConfig({ url: 'ldap://127.0.0.1:1/', bindDn: 'cn=x', bindPassword: 'y', baseDn: ldapBaseDn }, { domains: ['example.org'], defaultDatabase: 'DB01' });
  assert.ok(config.ok);
  const filter = addressFilter(config.value, '*)(uid=*', 'users and groups').toString();
  assert.equal(filter, '(&(|(objectClass=inetOrgPerson)(objectClass=groupOfNames))(|(mail=\\2a\\29\\28uid=\\2a)(mailLocalAddress=\\2a\\29\\28uid=\\2a)))');
  assert.equal(addressFilter(config.value, 'admin)(|(objectClass=*)', 'login').toString(), '(&(objectClass=inetOrgPerson)(mail=admin\\29\\28|\\28objectClass=\\2a\\29))');
  assert.ok(addressFilter(config.value, 'a\\2a@x', 'login').toString().includes('mail=a\\5c2a@x'));

  const directory = open();
  // Valid addresses may hold `*`: unescaped, `a*@example.org` would match alice as a substring filter.
  for (const probe of ['a*@example.org', '*@example.org', '*)(uid=*', 'admin)(|(objectClass=*)', 'alice@example.org)(uid=*']) {
    assert.equal(await directory.findUser(probe), null, probe);
    const login = await directory.authenticate(probe, 'alice-pw');
    assert.equal(!login.ok && login.code, 'AUTHENTICATION_FAILED', probe);
    const recipient = await directory.resolveRecipient(probe);
    assert.equal(recipient.ok, false, probe);
  }
  // Attribute names go into filters as names, so the configuration refuses anything else.
  const bad = parseLdapConfig({ url: 'ldap://h/', bindDn: 'x', bindPassword: 'y', baseDn: 'z', attributes: { mail: 'mail)(uid=*' } }, { domains: ['example.org'], defaultDatabase: 'DB01' });
  assert.equal(!bad.ok && bad.code, 'INVALID_ARGUMENT');
});

test('lookups are cached for cacheTtlMs, then read again; version() moves when the directory changes', async () => {
  let nowMs = 10_000;
  const directory = open({ cacheTtlMs: 60_000 }, { nowMs: () => nowMs });
  const version = await directory.version();
  assert.equal((await directory.findUser('carol@example.org'))?.displayName, 'Carol Test');
  await asRoot((c) => c.modify(ldapUserDn('carol'), new Change({ operation: 'replace', modification: new Attribute({ type: 'displayName', values: ['Carol Renamed'] }) })));
  nowMs += 59_999;
  assert.equal((await directory.findUser('carol@example.org'))?.displayName, 'Carol Test', 'still cached');
  assert.equal(await directory.version(), version, 'listing still cached');
  nowMs += 1;
  assert.equal((await directory.findUser('carol@example.org'))?.displayName, 'Carol Renamed', 're-read after the time limit');
  assert.equal(await directory.version(), version + 1);
  assert.equal(await directory.version(), version + 1, 'no change, no move');
  await asRoot((c) => c.modify(ldapUserDn('carol'), new Change({ operation: 'delete', modification: new Attribute({ type: 'displayName', values: [] }) })));
});

test('writes are refused with a clear read-only answer', async () => {
  const directory = open();
  const added = await directory.addUser({ address: 'eve@example.org', password: 'pw', database: 'DB01' });
  assert.equal(!added.ok && added.code, 'NOT_AUTHORIZED');
  assert.match(!added.ok ? added.message : '', /LDAP .* which Quire only reads: add users in LDAP/);
  for (const refused of [await directory.setPassword('alice@example.org', 'x'), await directory.addAlias('x@example.org', 'alice@example.org'), await directory.removeUser('alice@example.org')]) {
    assert.equal(!refused.ok && refused.code, 'NOT_AUTHORIZED');
  }
});

test('an ambiguous address and a refused service account are temporary failures, not "not found"', async () => {
  const directory = open();
  const dup = await directory.resolveRecipient('dup@example.org');
  assert.equal(!dup.ok && dup.code, 'DIRECTORY_UNAVAILABLE');
  assert.match(!dup.ok ? dup.message : '', /more than one entry for one address \(uid=dup1,/);
  const trip = await directory.resolveRecipient('trip@example.org');
  assert.equal(!trip.ok && trip.code, 'DIRECTORY_UNAVAILABLE');
  assert.match(!trip.ok ? trip.message : '', /more than one entry for one address/);
  const wrong = open({ bindPassword: 'wrong' });
  const login = await wrong.authenticate('alice@example.org', 'alice-pw');
  assert.equal(!login.ok && login.code, 'DIRECTORY_UNAVAILABLE');
  assert.match(!login.ok ? login.message : '', /refuses the service account/);
  await assert.rejects(wrong.findUser('alice@example.org'), (e: unknown) => e instanceof QuireError && e.code === 'DIRECTORY_UNAVAILABLE');
});

test('an LDAP server that accepts but never answers is DIRECTORY_UNAVAILABLE after the operation timeout', async () => {
  const sockets = new Set<import('node:net').Socket>();
  const silent: Server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as import('node:net').AddressInfo).port;
  try {
    const directory = new LdapDirectory(ldapTestConfig({ url: `ldap://127.0.0.1:${port}/` }, { operationTimeoutMs: 300 }), { clock: { nowMs: () => 0 } });
    directories.push(directory);
    const login = await directory.authenticate('alice@example.org', 'alice-pw');
    assert.equal(!login.ok && login.code, 'DIRECTORY_UNAVAILABLE');
    const recipient = await directory.resolveRecipient('bob@example.org');
    assert.equal(!recipient.ok && recipient.code, 'DIRECTORY_UNAVAILABLE');
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

// Last: stops slapd.
test('LDAP down: logins, lookups and listings fail as DIRECTORY_UNAVAILABLE; cached lookups are still answered', async () => {
  let nowMs = 5_000;
  const directory = open({ cacheTtlMs: 1_000 }, { nowMs: () => nowMs });
  assert.equal((await directory.findUser('bob@example.org'))?.address, 'bob@example.org');
  await slapd.stop();
  assert.equal((await directory.findUser('bob@example.org'))?.address, 'bob@example.org', 'cached within the time limit');
  const login = await directory.authenticate(ldapDefaultUsers[0].mail, ldapDefaultUsers[0].password);
  assert.equal(!login.ok && login.code, 'DIRECTORY_UNAVAILABLE');
  const recipient = await directory.resolveRecipient('carol@example.org');
  assert.equal(!recipient.ok && recipient.code, 'DIRECTORY_UNAVAILABLE');
  const group = await directory.resolveRecipient('staff@example.org');
  assert.equal(!group.ok && group.code, 'DIRECTORY_UNAVAILABLE');
  nowMs += 1_000;
  const isUnavailable = (e: unknown) => e instanceof QuireError && e.code === 'DIRECTORY_UNAVAILABLE';
  await assert.rejects(directory.findUser('bob@example.org'), isUnavailable);
  await assert.rejects(directory.listUsers(), isUnavailable);
  await assert.rejects(directory.version(), isUnavailable);
  assert.equal(mailboxIdOf('not-a-uuid').length, 32);
});
