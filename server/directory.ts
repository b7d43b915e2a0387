// Which directory a server (or the offline CLI) uses: LDAP when the data directory has an
// `ldap.json` or `quire start` is given --ldap-* flags, else the embedded one. With LDAP the
// users come from the organisation's directory, so their mailboxes are created the first time
// they log in or receive mail (`withMailboxes`), as Exchange does for a mailbox-enabled user.
//
// <dataDir>/ldap.json (mode 0600; every field but the first four is optional):
//   {
//     "url": "ldap://ldap.example.org:389",          ldaps:// for TLS
//     "bindDn": "cn=quire,ou=services,dc=example,dc=org",
//     "bindPassword": "..."  or  "bindPasswordFile": "/etc/quire/ldap.pw",
//     "baseDn": "dc=example,dc=org",
//     "userObjectClass": "inetOrgPerson", "groupObjectClass": "groupOfNames",
//     "attributes": { "mail": "mail", "alias": "mailLocalAddress", "displayName": "displayName",
//                     "database": null, "quota": null, "mailboxId": "entryUUID", "member": "member" },
//     "domains": ["example.org"],                     default: --domain
//     "defaultDatabase": "DB01",
//     "cacheTtlMs": 60000, "operationTimeoutMs": 5000, "connectTimeoutMs": 3000
//   }

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MailboxApi } from '../engine/api.js';
import {
  type AddUserInput,
  type Directory,
  type DirectoryGroup,
  type DirectoryUser,
  type LdapConfig,
  LdapDirectory,
  openEmbeddedDirectory,
  parseLdapConfig,
} from '../engine/directory/index.js';
import { fail, ok, type Result } from '../engine/errors.js';
import { systemClock } from '../engine/io.js';
import type { AddressBookSource } from '../protocols/http/autoconfig.js';
import { writeFileDurably } from './paths.js';

export const ldapConfigFileName = 'ldap.json';

/** What `quire start --ldap-*` gives; merged over ldap.json and saved into it. */
export interface LdapFlags {
  readonly url?: string;
  readonly bindDn?: string;
  readonly bindPasswordFile?: string;
  readonly baseDn?: string;
}

export interface OpenedDirectory {
  readonly directory: Directory;
  readonly kind: 'embedded' | 'ldap';
  /** One line for the start banner. */
  readonly description: string;
}

function readJson(file: string): Result<Record<string, unknown>> {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('INVALID_ARGUMENT', `${file}: must hold a JSON object`);
    return ok(value as Record<string, unknown>);
  } catch (error) {
    return fail('INVALID_ARGUMENT', `${file}: ${(error as Error).message}`);
  }
}

/**
 * The LDAP configuration of a data directory (ldap.json, with `flags` merged over it and
 * saved back), or null when it uses the embedded directory. The bind password comes from
 * `bindPassword`, `bindPasswordFile` or $QUIRE_LDAP_BIND_PASSWORD.
 */
export function ldapConfigOf(dataDir: string, defaults: { domain: string; databases: readonly string[] }, flags: LdapFlags = {}): Result<LdapConfig | null> {
  const file = join(dataDir, ldapConfigFileName);
  let raw: Record<string, unknown> = {};
  if (existsSync(file)) {
    const read = readJson(file);
    if (!read.ok) return read;
    raw = read.value;
  }
  const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  if (Object.keys(given).length > 0) {
    // The domains are saved too, so the offline CLI (which has no --domain) sees the same ones.
    raw = { domains: [defaults.domain], ...raw, ...given };
    if (given.bindPasswordFile !== undefined) delete raw.bindPassword;
  }
  if (Object.keys(raw).length === 0) return ok(null);
  const parsed = parseRaw(file, raw, defaults);
  // Saved only once it holds together, so a mistyped flag does not break the next start.
  if (parsed.ok && Object.keys(given).length > 0) writeFileSync(file, `${JSON.stringify(raw, null, 2)}\n`, { mode: 0o600 });
  return parsed;
}

function parseRaw(file: string, raw: Record<string, unknown>, defaults: { domain: string; databases: readonly string[] }): Result<LdapConfig> {
  const { bindPasswordFile, ...rest } = raw;
  if (bindPasswordFile !== undefined) {
    if (typeof bindPasswordFile !== 'string') return fail('INVALID_ARGUMENT', `${file}: bindPasswordFile must be a file name`);
    try {
      rest.bindPassword = readFileSync(bindPasswordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      return fail('INVALID_ARGUMENT', `${file}: cannot read bindPasswordFile: ${(error as Error).message}`);
    }
  } else if (rest.bindPassword === undefined && process.env.QUIRE_LDAP_BIND_PASSWORD !== undefined) {
    rest.bindPassword = process.env.QUIRE_LDAP_BIND_PASSWORD;
  }
  const parsed = parseLdapConfig(rest, { domains: [defaults.domain], defaultDatabase: defaults.databases[0]! });
  return parsed.ok ? parsed : fail('INVALID_ARGUMENT', `${file}: ${parsed.message}`);
}

export async function openConfiguredDirectory(
  dataDir: string,
  defaults: { domain: string; databases: readonly string[] },
  flags: LdapFlags = {},
): Promise<Result<OpenedDirectory>> {
  const config = ldapConfigOf(dataDir, defaults, flags);
  if (!config.ok) return config;
  if (config.value === null) {
    const opened = await openEmbeddedDirectory(dataDir);
    return opened.ok ? ok({ directory: opened.value, kind: 'embedded', description: `embedded (${join(dataDir, 'directory')})` }) : opened;
  }
  const ldap = new LdapDirectory(config.value, { clock: systemClock() });
  return ok({ directory: withDatabaseOverrides(ldap, dataDir), kind: 'ldap', description: `${ldap.describe()}, read-only, domains ${config.value.domains.join(', ')}` });
}

export const databaseOverridesFileName = 'ldap-databases.json';

/**
 * LDAP is read-only for Quire, so a mailbox move cannot change the database attribute (or the
 * defaultDatabase) that places an LDAP user. Moves record it here instead: <dataDir>/ldap-databases.json
 * maps mailbox ids (entryUUID, which renames keep) to the database that holds the mailbox now,
 * and wins over LDAP. Written durably before a move's switch; an entry that agrees with LDAP again
 * is dropped. It is this server's: with several servers, update the LDAP attribute after a move.
 */
export function withDatabaseOverrides(directory: Directory, dataDir: string): Directory {
  const file = join(dataDir, databaseOverridesFileName);
  let databases: Record<string, string> = {};
  if (existsSync(file)) {
    const read = readJson(file);
    if (!read.ok) throw new Error(read.message);
    databases = (read.value.databases ?? {}) as Record<string, string>;
  }
  const placed = (user: DirectoryUser): DirectoryUser => {
    const database = databases[user.mailboxId];
    return database === undefined ? user : { ...user, database };
  };
  const placedResult = (result: Result<DirectoryUser>): Result<DirectoryUser> => (result.ok ? ok(placed(result.value)) : result);
  const own: Partial<Directory> = {
    authenticate: async (login, password) => placedResult(await directory.authenticate(login, password)),
    findUser: async (address) => {
      const user = await directory.findUser(address);
      return user === null ? null : placed(user);
    },
    listUsers: async () => (await directory.listUsers()).map(placed),
    resolveRecipient: async (address) => {
      const users = await directory.resolveRecipient(address);
      return users.ok ? ok(users.value.map(placed)) : users;
    },
    removeUser: async (address) => placedResult(await directory.removeUser(address)),
    setDatabase: async (address, database) => {
      const user = await directory.findUser(address);
      if (user === null) return fail('NO_SUCH_USER', `no user ${address}`);
      const next = { ...databases };
      if (database === user.database) delete next[user.mailboxId];
      else next[user.mailboxId] = database;
      writeFileDurably(file, `${JSON.stringify({ databases: next }, null, 2)}\n`);
      databases = next;
      return ok(undefined);
    },
  };
  // A proxy, so the wrapped directory keeps its class (withMailboxes provisions LDAP users).
  return new Proxy(directory, {
    get(target, property, receiver) {
      if (typeof property === 'string' && property in own) return own[property as keyof Directory];
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * With LDAP: the directory as the server uses it, creating each user's mailbox in its
 * database the first time the user logs in or is resolved as a recipient (and bringing its
 * quota in line with LDAP's). A mailbox that cannot be created is a temporary failure of
 * that login or recipient, never a success without a mailbox. The embedded directory
 * creates mailboxes at `user add`, so it is returned as it is.
 */
export function withMailboxes(directory: Directory, databases: readonly string[], apiFor: (database: string) => MailboxApi): Directory {
  return directory instanceof LdapDirectory ? new ProvisioningDirectory(directory, databases, apiFor) : directory;
}

class ProvisioningDirectory implements Directory {
  /** Mailboxes known to exist with the quota LDAP gave (mailboxId -> quota). */
  private readonly ready = new Map<string, number | null>();
  private readonly inFlight = new Map<string, Promise<Result<void>>>();

  constructor(
    private readonly inner: Directory,
    private readonly databases: readonly string[],
    private readonly apiFor: (database: string) => MailboxApi,
  ) {}

  async authenticate(login: string, password: string): Promise<Result<DirectoryUser>> {
    const user = await this.inner.authenticate(login, password);
    if (!user.ok) return user;
    const ensured = await this.ensure(user.value);
    return ensured.ok ? user : ensured;
  }

  async resolveRecipient(address: string): Promise<Result<DirectoryUser[]>> {
    const users = await this.inner.resolveRecipient(address);
    if (!users.ok) return users;
    for (const user of users.value) {
      const ensured = await this.ensure(user);
      if (!ensured.ok) return ensured;
    }
    return users;
  }

  private ensure(user: DirectoryUser): Promise<Result<void>> {
    if (this.ready.has(user.mailboxId) && this.ready.get(user.mailboxId) === user.quotaBytes) return Promise.resolve(ok(undefined));
    let pending = this.inFlight.get(user.mailboxId);
    if (pending === undefined) {
      pending = this.provision(user).finally(() => this.inFlight.delete(user.mailboxId));
      this.inFlight.set(user.mailboxId, pending);
    }
    return pending;
  }

  private async provision(user: DirectoryUser): Promise<Result<void>> {
    if (!this.databases.includes(user.database)) {
      // A directory mistake: answer "try later" so mail waits at the sender instead of bouncing.
      return fail('DIRECTORY_UNAVAILABLE', `the directory puts ${user.address} in database ${user.database}, which this server does not host (${this.databases.join(', ')})`);
    }
    const api = this.apiFor(user.database);
    const info = await api.mailbox(user.mailboxId);
    if (info.ok) {
      if (info.value.quotaBytes !== user.quotaBytes) {
        const set = await api.commit({ mailboxId: user.mailboxId, ops: [{ op: 'setQuota', quotaBytes: user.quotaBytes }] });
        if (!set.ok) return set;
      }
    } else if (info.code === 'NO_SUCH_MAILBOX') {
      const created = await api.commit({ mailboxId: user.mailboxId, ops: [{ op: 'createMailbox', address: user.address, quotaBytes: user.quotaBytes }] });
      if (!created.ok) return created;
    } else {
      return info;
    }
    this.ready.set(user.mailboxId, user.quotaBytes);
    return ok(undefined);
  }

  listDomains(): Promise<string[]> {
    return this.inner.listDomains();
  }
  addDomain(name: string): Promise<Result<void>> {
    return this.inner.addDomain(name);
  }
  isAcceptedDomain(name: string): Promise<boolean> {
    return this.inner.isAcceptedDomain(name);
  }
  addUser(input: AddUserInput): Promise<Result<DirectoryUser>> {
    return this.inner.addUser(input);
  }
  removeUser(address: string): Promise<Result<DirectoryUser>> {
    return this.inner.removeUser(address);
  }
  setPassword(address: string, password: string): Promise<Result<void>> {
    return this.inner.setPassword(address, password);
  }
  setQuota(address: string, quotaBytes: number | null): Promise<Result<void>> {
    return this.inner.setQuota(address, quotaBytes);
  }
  setDatabase(address: string, database: string): Promise<Result<void>> {
    return this.inner.setDatabase(address, database);
  }
  findUser(addressOrAlias: string): Promise<DirectoryUser | null> {
    return this.inner.findUser(addressOrAlias);
  }
  listUsers(): Promise<DirectoryUser[]> {
    return this.inner.listUsers();
  }
  addAlias(alias: string, address: string): Promise<Result<void>> {
    return this.inner.addAlias(alias, address);
  }
  removeAlias(alias: string): Promise<Result<void>> {
    return this.inner.removeAlias(alias);
  }
  addGroup(address: string, members: string[]): Promise<Result<void>> {
    return this.inner.addGroup(address, members);
  }
  removeGroup(address: string): Promise<Result<void>> {
    return this.inner.removeGroup(address);
  }
  listGroups(): Promise<DirectoryGroup[]> {
    return this.inner.listGroups();
  }
  version(): Promise<number> {
    return this.inner.version();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The offline address book's entries: every user and every group of the directory. */
export function addressBookOf(directory: Directory): AddressBookSource {
  return {
    version: () => directory.version(),
    async entries() {
      const [users, groups] = await Promise.all([directory.listUsers(), directory.listGroups()]);
      return [
        ...users.map((u) => ({ kind: 'user' as const, address: u.address, displayName: u.displayName, aliases: u.aliases, members: [], id: u.mailboxId })),
        ...groups.map((g) => ({ kind: 'group' as const, address: g.address, displayName: g.address.slice(0, g.address.indexOf('@')), aliases: [], members: g.members, id: `group:${g.address}` })),
      ];
    },
  };
}
