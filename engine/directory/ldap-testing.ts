// Test helpers for the LDAP directory: a seed for a real slapd (scripts/services) with users,
// aliases, mail-enabled groups (nested, looping, too deep, with a stale member) and entries
// that filter injection would reach, plus the matching configuration.

import { ldapBaseDn, ldapDefaultUsers, ldapRootDn, ldapUserDn, openldap, type OpenldapHandle } from '../../scripts/services/services.js';
import type { LdapConfig } from './ldap.js';
import { parseLdapConfig } from './ldap.js';

export const ldapGroupDn = (cn: string) => `cn=${cn},ou=groups,${ldapBaseDn}`;

/** dave lives in DB02 with a 500M quota (mapped from departmentNumber and employeeType in the test config). */
export const ldapDave = { uid: 'dave', password: 'dave-pw', mail: 'dave@example.org', database: 'DB02', quota: '500M' } as const;

/** Nested groups d0 -> d1 -> ... -> d9 -> carol: deeper than groupDepthMax (8). */
export const ldapDeepChainLength = 10;

function person(uid: string, password: string, mail: string | null, aliases: readonly string[], extra: string[] = []): string {
  return [
    `dn: ${ldapUserDn(uid)}`,
    'objectClass: inetOrgPerson',
    'objectClass: inetLocalMailRecipient',
    `uid: ${uid}`,
    `cn: ${uid[0]!.toUpperCase()}${uid.slice(1)} Test`,
    `sn: ${uid}`,
    ...(mail === null ? [] : [`mail: ${mail}`]),
    ...aliases.map((a) => `mailLocalAddress: ${a}`),
    ...extra,
    `userPassword: ${password}`,
    '',
  ].join('\n');
}

function group(cn: string, address: string | null, members: readonly string[]): string {
  return [
    `dn: ${ldapGroupDn(cn)}`,
    'objectClass: groupOfNames',
    ...(address === null ? [] : ['objectClass: inetLocalMailRecipient', `mailLocalAddress: ${address}`]),
    `cn: ${cn}`,
    ...members.map((m) => `member: ${m}`),
    '',
  ].join('\n');
}

export function ldapTestSeed(): string {
  const people = ldapDefaultUsers.map((u) => person(u.uid, u.password, u.mail, u.aliases));
  people.push(person(ldapDave.uid, ldapDave.password, ldapDave.mail, [], [`departmentNumber: ${ldapDave.database}`, `employeeType: ${ldapDave.quota}`]));
  // An entry without mail: it can bind, but it is no mailbox.
  people.push(person('nomail', 'nomail-pw', null, []));
  // Two entries claiming one address: a directory error, answered as a temporary failure.
  people.push(person('dup1', 'dup-pw', 'dup@example.org', []));
  people.push(person('dup2', 'dup-pw', 'dup2@example.org', ['dup@example.org']));
  // Three: past the search's size limit of 2, still the same directory error.
  people.push(person('trip1', 'trip-pw', 'trip@example.org', []));
  people.push(person('trip2', 'trip-pw', 'trip2@example.org', ['trip@example.org']));
  people.push(person('trip3', 'trip-pw', 'trip3@example.org', ['trip@example.org']));
  const groups = [
    group('staff', 'staff@example.org', ldapDefaultUsers.map((u) => ldapUserDn(u.uid))),
    // all: staff (nested), ops (which loops back to all), dave, and a member that no longer exists.
    group('all', 'all@example.org', [ldapGroupDn('staff'), ldapGroupDn('ops'), ldapUserDn('dave'), ldapUserDn('ghost')]),
    group('ops', 'ops@example.org', [ldapGroupDn('all'), ldapUserDn('bob')]),
    group('empty', 'empty@example.org', [ldapUserDn('ghost')]),
    group('unaddressed', null, [ldapUserDn('alice')]),
  ];
  for (let i = 0; i < ldapDeepChainLength; i++) {
    const next = i + 1 < ldapDeepChainLength ? ldapGroupDn(`d${i + 1}`) : ldapUserDn('carol');
    groups.push(group(`d${i}`, `d${i}@example.org`, [next]));
  }
  return [...people, ...groups].join('\n');
}

export async function startTestLdap(): Promise<OpenldapHandle> {
  return openldap.start({ seedLdif: ldapTestSeed() });
}

/** The configuration tests use: database and quota mapped to stock inetOrgPerson attributes. */
export function ldapTestConfig(handle: { url: string }, overrides: Record<string, unknown> = {}): LdapConfig {
  const parsed = parseLdapConfig(
    {
      url: handle.url,
      bindDn: ldapRootDn,
      bindPassword: 'admin-pw',
      baseDn: ldapBaseDn,
      attributes: { database: 'departmentNumber', quota: 'employeeType' },
      domains: ['example.org'],
      operationTimeoutMs: 2_000,
      connectTimeoutMs: 1_000,
      ...overrides,
    },
    { domains: ['example.org'], defaultDatabase: 'DB01' },
  );
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}
