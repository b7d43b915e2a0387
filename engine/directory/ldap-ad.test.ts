// Proves the Active Directory style address list against a real OpenLDAP slapd: with
// attributes.proxyAddresses mapped, `SMTP:` is the primary address (login, Delivered-To of the
// account), each `smtp:` value an alias, other address types are ignored, groups get their
// addresses from it too, and listings include entries that have proxyAddresses but no `mail`.
// slapd's stock schema has no proxyAddresses with an equality rule (msuser.schema defines it
// without one), so the test loads AD's definition (same OID, case-insensitive matching as in
// AD) as its own schema through scripts/services. It fails, never skips, without slapd.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ldapBaseDn, ldapRootDn, ldapUserDn, openldap, type OpenldapHandle } from '../../scripts/services/services.js';
import { LdapDirectory, parseLdapConfig } from './ldap.js';

/** AD's proxyAddresses (1.2.840.113556.1.2.210) and an auxiliary class carrying it, as AD's mailRecipient does. */
const adSchema = `attributetype ( 1.2.840.113556.1.2.210 NAME 'proxyAddresses'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
objectclass ( 1.2.840.113556.1.3.46 NAME 'mailRecipient' SUP top AUXILIARY
  MAY ( proxyAddresses ) )
`;

const seed = [
  // Primary from SMTP:, differing from mail; two aliases; an X500 and a SIP address ignored.
  `dn: ${ldapUserDn('erin')}`, 'objectClass: inetOrgPerson', 'objectClass: mailRecipient', 'uid: erin', 'cn: Erin Ad', 'sn: ad',
  'mail: erin.old@example.org',
  'proxyAddresses: SMTP:erin@example.org', 'proxyAddresses: smtp:e.ad@example.org', 'proxyAddresses: smtp:sales@example.org',
  'proxyAddresses: X500:/o=Org/ou=Exchange/cn=Recipients/cn=erin', 'proxyAddresses: SIP:erin@example.org',
  'userPassword: erin-pw', '',
  // No mail attribute at all: an AD user known only by proxyAddresses.
  `dn: ${ldapUserDn('finn')}`, 'objectClass: inetOrgPerson', 'objectClass: mailRecipient', 'uid: finn', 'cn: Finn Ad', 'sn: ad',
  'proxyAddresses: SMTP:finn@example.org', 'proxyAddresses: smtp:f@example.org', 'userPassword: finn-pw', '',
  // A mail-enabled group addressed through proxyAddresses only.
  `dn: cn=adteam,ou=groups,${ldapBaseDn}`, 'objectClass: groupOfNames', 'objectClass: mailRecipient', 'cn: adteam',
  'proxyAddresses: SMTP:adteam@example.org', 'proxyAddresses: smtp:team-alias@example.org',
  `member: ${ldapUserDn('erin')}`, `member: ${ldapUserDn('finn')}`, '',
].join('\n');

let slapd: OpenldapHandle;
let directory: LdapDirectory;

before(async () => {
  slapd = await openldap.start({ seedLdif: seed, schema: adSchema });
  const config = parseLdapConfig(
    { url: slapd.url, bindDn: ldapRootDn, bindPassword: slapd.rootPassword, baseDn: ldapBaseDn, attributes: { proxyAddresses: 'proxyAddresses' }, domains: ['example.org'], operationTimeoutMs: 2_000, connectTimeoutMs: 1_000 },
    { domains: ['example.org'], defaultDatabase: 'DB01' },
  );
  if (!config.ok) throw new Error(config.message);
  directory = new LdapDirectory(config.value, { clock: { nowMs: () => 1_000 } });
});

after(async () => {
  await directory?.close();
  await slapd?.stop();
});

test('SMTP: is the primary address, smtp: values are aliases, other types ignored', async () => {
  for (const address of ['erin@example.org', 'E.AD@example.org', 'sales@example.org', 'erin.old@example.org']) {
    const found = await directory.resolveRecipient(address);
    assert.ok(found.ok, `${address}: ${JSON.stringify(found)}`);
    assert.deepEqual(found.value.map((u) => u.address), ['erin@example.org'], address);
  }
  const erin = await directory.findUser('sales@example.org');
  assert.deepEqual(erin?.aliases, ['e.ad@example.org', 'erin.old@example.org', 'sales@example.org']);
  const finn = await directory.resolveRecipient('f@example.org');
  assert.ok(finn.ok && finn.value[0]!.address === 'finn@example.org', JSON.stringify(finn));
  assert.equal((await directory.resolveRecipient('/o=Org/ou=Exchange/cn=Recipients/cn=erin')).ok, false);
  const unknown = await directory.resolveRecipient('nobody@example.org');
  assert.equal(!unknown.ok && unknown.code, 'NO_SUCH_USER');
});

test('logins are by the primary (SMTP:) address only', async () => {
  const erin = await directory.authenticate('erin@example.org', 'erin-pw');
  assert.ok(erin.ok && erin.value.address === 'erin@example.org', JSON.stringify(erin));
  const finn = await directory.authenticate('FINN@example.org', 'finn-pw');
  assert.ok(finn.ok, JSON.stringify(finn));
  for (const login of ['sales@example.org', 'erin.old@example.org', 'f@example.org']) {
    const refused = await directory.authenticate(login, login.startsWith('f@') ? 'finn-pw' : 'erin-pw');
    assert.equal(!refused.ok && refused.code, 'AUTHENTICATION_FAILED', login);
  }
  assert.equal((await directory.authenticate('erin@example.org', 'wrong')).ok, false);
});

test('groups by proxyAddresses expand; listings include users known only by proxyAddresses', async () => {
  for (const address of ['adteam@example.org', 'team-alias@example.org']) {
    const members = await directory.resolveRecipient(address);
    assert.ok(members.ok, JSON.stringify(members));
    assert.deepEqual(members.value.map((u) => u.address).sort(), ['erin@example.org', 'finn@example.org']);
  }
  assert.deepEqual((await directory.listUsers()).map((u) => u.address).sort(), ['erin@example.org', 'finn@example.org']);
  const groups = await directory.listGroups();
  assert.deepEqual(groups.map((g) => [g.address, [...g.members].sort()]), [['adteam@example.org', ['erin@example.org', 'finn@example.org']]]);
});
