// The LDAP directory: the organisation's own directory (OpenLDAP, 389-ds, AD) behind the same
// `Directory` interface as the embedded one, through `ldapts` 8.x.
//
// - Logins: search the entry by `mail` (the primary address) with the service account, then
//   bind as the entry's DN with the password on a connection of its own (bind-to-authenticate;
//   password hashes are never read). An unknown login still makes one bind (to a DN that does
//   not exist), so the answer takes the same shape and time.
// - Recipients: an entry whose `mail` or alias attribute is the address. A user entry is a
//   recipient; a group entry (groupOfNames) is expanded through its `member` DNs, recursively,
//   with the embedded directory's caps: nesting deeper than groupDepthMax or more than
//   resolvedRecipientsMax users is LIMIT; loops and diamonds are expanded once; members that
//   no longer exist are skipped (stale `member` values are normal in LDAP).
// - Every value a user typed reaches LDAP only inside ldapts filter objects (EqualityFilter),
//   which BER-encode it as a value: `*`, `(`, `)` and `\` are data, never filter syntax.
// - Lookups are cached for `cacheTtlMs` (found and not found alike); logins are never cached.
// - LDAP that cannot be reached or does not answer within the timeout is DIRECTORY_UNAVAILABLE:
//   thrown from the calls that return plain values (findUser, listUsers, ...), returned from
//   those that return a Result. Nothing turns a failed lookup into "not found".
// - Read-only: Quire does not write to the organisation's directory. addUser, setPassword,
//   aliases and groups answer NOT_AUTHORIZED saying to change them in LDAP.
// - Attributes Quire needs and a stock schema lacks have defaults: the mailbox id is the
//   entry's entryUUID (16 bytes, the embedded directory's mailbox id format), the database is
//   `defaultDatabase`, the quota is unlimited. Each can be mapped to an attribute.

import { createHash } from 'node:crypto';
import { AndFilter, Client, EqualityFilter, type Entry, type Filter, OrFilter, PresenceFilter } from 'ldapts';
import { fail, ok, QuireError, type Result } from '../errors.js';
import { expandGroup, type ExpansionNode } from './expand.js';
import {
  ldapCacheEntriesMax,
  ldapCacheTtlMsDefault,
  ldapConnectTimeoutMsDefault,
  ldapExpansionEntriesMax,
  ldapListEntriesMax,
  ldapMemberReadsParallelMax,
  ldapOperationTimeoutMsDefault,
  ldapPageSize,
} from './constants.js';
import {
  normalizeAddress,
  normalizeDomain,
  parseSize,
  validateDatabaseName,
  validateDisplayName,
  validatePassword,
  type AddUserInput,
  type Clock,
  type Directory,
  type DirectoryGroup,
  type DirectoryUser,
} from './directory.js';

export interface LdapAttributeMap {
  /** The primary address (and login). */
  readonly mail: string;
  /** Other addresses of the entry (multi-valued). */
  readonly alias: string;
  /** Falls back to `cn`, then the local part. */
  readonly displayName: string;
  /** The mailbox database; null: every user is in `defaultDatabase`. */
  readonly database: string | null;
  /** Quota as bytes or a size like `2G`; null: unlimited. */
  readonly quota: string | null;
  /** A stable id per entry; entryUUID by default. Hex UUIDs are used as they are, anything else is hashed. */
  readonly mailboxId: string;
  /** Member DNs of a group. */
  readonly member: string;
  /**
   * Active Directory's multi-valued address list (null: not used): `SMTP:a@x` is the primary
   * address (it wins over `mail`), each `smtp:b@x` an alias; other types (X500:, SIP:) are
   * ignored. Matched as `smtp:<address>`, which AD's case-insensitive matching finds either way.
   */
  readonly proxyAddresses: string | null;
}

export interface LdapConfig {
  /** ldap://host:port or ldaps://host:port */
  readonly url: string;
  /** The service account that searches. */
  readonly bindDn: string;
  readonly bindPassword: string;
  /** Where users and groups are searched (subtree). */
  readonly baseDn: string;
  readonly userObjectClass: string;
  readonly groupObjectClass: string;
  readonly attributes: LdapAttributeMap;
  /** The accepted domains (LDAP has no notion of them). */
  readonly domains: readonly string[];
  readonly defaultDatabase: string;
  readonly cacheTtlMs: number;
  readonly operationTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

export const ldapAttributesDefault: LdapAttributeMap = {
  mail: 'mail',
  alias: 'mailLocalAddress',
  displayName: 'displayName',
  database: null,
  quota: null,
  mailboxId: 'entryUUID',
  member: 'member',
  proxyAddresses: null,
};

const attributeNamePattern = /^[A-Za-z][A-Za-z0-9-]{0,63}$/;

/**
 * Checks a configuration as read from `ldap.json` or the command line: every field with its
 * type, attribute and object class names (they go into filters unescaped, so they must be
 * names), and fills in the defaults.
 */
export function parseLdapConfig(input: unknown, defaults: { domains: readonly string[]; defaultDatabase: string }): Result<LdapConfig> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return fail('INVALID_ARGUMENT', 'LDAP configuration must be an object');
  const raw = input as Record<string, unknown>;
  const known = new Set(['url', 'bindDn', 'bindPassword', 'baseDn', 'userObjectClass', 'groupObjectClass', 'attributes', 'domains', 'defaultDatabase', 'cacheTtlMs', 'operationTimeoutMs', 'connectTimeoutMs']);
  for (const key of Object.keys(raw)) if (!known.has(key)) return fail('INVALID_ARGUMENT', `LDAP configuration: unknown field "${key}"`);
  const text = (name: string, required: boolean): Result<string | undefined> => {
    const value = raw[name];
    if (value === undefined) return required ? fail('INVALID_ARGUMENT', `LDAP configuration: "${name}" is required`) : ok(undefined);
    if (typeof value !== 'string' || value === '') return fail('INVALID_ARGUMENT', `LDAP configuration: "${name}" must be a non-empty string`);
    return ok(value);
  };
  const url = text('url', true);
  if (!url.ok) return url;
  if (!/^ldaps?:\/\/[^/\s]+\/?$/.test(url.value!)) return fail('INVALID_ARGUMENT', `LDAP configuration: url must be ldap://host:port or ldaps://host:port, not "${url.value}"`);
  const bindDn = text('bindDn', true);
  if (!bindDn.ok) return bindDn;
  const bindPassword = text('bindPassword', true);
  if (!bindPassword.ok) return bindPassword;
  const baseDn = text('baseDn', true);
  if (!baseDn.ok) return baseDn;
  const names: Record<string, string> = {};
  for (const [name, fallback] of [['userObjectClass', 'inetOrgPerson'], ['groupObjectClass', 'groupOfNames']] as const) {
    const value = text(name, false);
    if (!value.ok) return value;
    names[name] = value.value ?? fallback;
    if (!attributeNamePattern.test(names[name]!)) return fail('INVALID_ARGUMENT', `LDAP configuration: ${name} "${names[name]}" is not an object class name`);
  }
  const attributes: Record<string, string | null> = { ...ldapAttributesDefault };
  if (raw.attributes !== undefined) {
    if (typeof raw.attributes !== 'object' || raw.attributes === null) return fail('INVALID_ARGUMENT', 'LDAP configuration: "attributes" must be an object');
    for (const [key, value] of Object.entries(raw.attributes)) {
      if (!(key in ldapAttributesDefault)) return fail('INVALID_ARGUMENT', `LDAP configuration: unknown attribute mapping "${key}" (known: ${Object.keys(ldapAttributesDefault).join(', ')})`);
      const optional = key === 'database' || key === 'quota' || key === 'proxyAddresses';
      if (value === null && optional) attributes[key] = null;
      else if (typeof value === 'string' && attributeNamePattern.test(value)) attributes[key] = value;
      else return fail('INVALID_ARGUMENT', `LDAP configuration: attributes.${key} must be an attribute name${optional ? ' or null' : ''}`);
    }
  }
  let domains = [...defaults.domains];
  if (raw.domains !== undefined) {
    if (!Array.isArray(raw.domains) || raw.domains.length === 0) return fail('INVALID_ARGUMENT', 'LDAP configuration: "domains" must be a non-empty list');
    domains = [];
    for (const name of raw.domains) {
      const domain = normalizeDomain(name as string);
      if (!domain.ok) return fail('INVALID_ARGUMENT', `LDAP configuration: ${domain.message}`);
      domains.push(domain.value);
    }
  }
  const database = validateDatabaseName((raw.defaultDatabase as string | undefined) ?? defaults.defaultDatabase);
  if (!database.ok) return fail('INVALID_ARGUMENT', `LDAP configuration: defaultDatabase: ${database.message}`);
  const durations: Record<string, number> = { cacheTtlMs: ldapCacheTtlMsDefault, operationTimeoutMs: ldapOperationTimeoutMsDefault, connectTimeoutMs: ldapConnectTimeoutMsDefault };
  for (const name of Object.keys(durations)) {
    const value = raw[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > 86_400_000) {
      return fail('INVALID_ARGUMENT', `LDAP configuration: "${name}" must be a whole number of milliseconds up to one day`);
    }
    durations[name] = value;
  }
  return ok({
    url: url.value!,
    bindDn: bindDn.value!,
    bindPassword: bindPassword.value!,
    baseDn: baseDn.value!,
    userObjectClass: names.userObjectClass!,
    groupObjectClass: names.groupObjectClass!,
    attributes: attributes as unknown as LdapAttributeMap,
    domains,
    defaultDatabase: database.value,
    cacheTtlMs: durations.cacheTtlMs!,
    operationTimeoutMs: durations.operationTimeoutMs!,
    connectTimeoutMs: durations.connectTimeoutMs!,
  });
}

// ---------------------------------------------------------------------------------------
// Filters. Values only ever go in through filter objects, which encode them as values.

/**
 * Recipients: `(&(|(objectClass=user)(objectClass=group))(|(mail=v)(alias=v)))`, users and
 * groups by address. Logins: `(&(objectClass=user)(mail=v))`: the login is the primary
 * address, as in the embedded directory.
 */
export function addressFilter(config: LdapConfig, address: string, kinds: 'login' | 'users and groups'): Filter {
  const classes = [new EqualityFilter({ attribute: 'objectClass', value: config.userObjectClass })];
  const proxy = config.attributes.proxyAddresses === null ? [] : [new EqualityFilter({ attribute: config.attributes.proxyAddresses, value: `smtp:${address}` })];
  if (kinds === 'login') {
    const mail = new EqualityFilter({ attribute: config.attributes.mail, value: address });
    return new AndFilter({ filters: [classes[0]!, proxy.length === 0 ? mail : new OrFilter({ filters: [mail, ...proxy] })] });
  }
  classes.push(new EqualityFilter({ attribute: 'objectClass', value: config.groupObjectClass }));
  return new AndFilter({
    filters: [
      new OrFilter({ filters: classes }),
      new OrFilter({
        filters: [
          new EqualityFilter({ attribute: config.attributes.mail, value: address }),
          new EqualityFilter({ attribute: config.attributes.alias, value: address }),
          ...proxy,
        ],
      }),
    ],
  });
}

/** A user or a group, as read from LDAP. */
type LdapEntry =
  | { readonly kind: 'user'; readonly dn: string; readonly user: DirectoryUser }
  | { readonly kind: 'group'; readonly dn: string; readonly addresses: readonly string[]; readonly members: readonly string[] }
  | { readonly kind: 'other'; readonly dn: string };

/** What group expansion (expand.ts) walks: users, and groups keyed by DN; anything else is skipped. */
function nodeOf(entry: LdapEntry | null): ExpansionNode | null {
  if (entry === null || entry.kind === 'other') return null;
  return entry.kind === 'user' ? { kind: 'user', user: entry.user } : { kind: 'group', key: dnKey(entry.dn), members: entry.members };
}

function values(entry: Entry, attribute: string): string[] {
  const wanted = attribute.toLowerCase();
  for (const [key, value] of Object.entries(entry)) {
    if (key.toLowerCase() !== wanted || key === 'dn') continue;
    const list = Array.isArray(value) ? value : [value];
    return list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
  }
  return [];
}

function normalizedAddresses(list: readonly string[]): string[] {
  const out = new Set<string>();
  for (const value of list) {
    const address = normalizeAddress(value);
    if (address.ok) out.add(address.value);
  }
  return [...out];
}

/** DNs compared case- and space-insensitively (enough for loop detection between values of one server). */
function dnKey(dn: string): string {
  return dn.toLowerCase().replace(/\s*([,=+])\s*/g, '$1').trim();
}

/** `20261129094930Z` or `20261129094930.383Z` to ms; 0 when absent or odd. */
function generalizedTimeMs(text: string | undefined): number {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,](\d+))?Z$/.exec(text ?? '');
  if (match === null) return 0;
  const [, y, mo, d, h, mi, s, frac] = match;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000));
}

/** entryUUID 'eadf2736-8025-1041-9577-dd8cb339ee81' -> 32 hex; any other id -> its SHA-256, cut to 16 bytes. */
export function mailboxIdOf(value: string): string {
  const hex = value.replace(/-/g, '').toLowerCase();
  if (/^[0-9a-f]{32}$/.test(hex)) return hex;
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 32);
}

class Unavailable extends QuireError {
  constructor(message: string) {
    super('DIRECTORY_UNAVAILABLE', message);
  }
}

/** Result codes that a bind answers when the credentials (or the account) are refused, not when LDAP is broken. */
const refusedBindCodes = new Set([
  49, // invalidCredentials
  48, // inappropriateAuthentication
  50, // insufficientAccessRights
  53, // unwillingToPerform (e.g. a disabled account, or an empty password)
  19, // constraintViolation (password policy: locked)
]);

export interface LdapDirectoryOptions {
  readonly clock: Clock;
  /** Creates a client (tests pass one that records or fails); real ldapts by default. */
  readonly newClient?: (config: LdapConfig) => Client;
}

interface CacheEntry<T> {
  readonly value: T;
  readonly expiresAtMs: number;
}

interface Snapshot {
  readonly users: DirectoryUser[];
  readonly groups: DirectoryGroup[];
  readonly digest: string;
  readonly readAtMs: number;
}

export class LdapDirectory implements Directory {
  private readonly service: Client;
  private serviceBind: Promise<void> | null = null;
  private readonly cache = new Map<string, CacheEntry<LdapEntry | null>>();
  private snapshotCache: Snapshot | null = null;
  private snapshotLoading: Promise<Snapshot> | null = null;
  private versionNumber = 0;
  private versionDigest = '';
  private closed = false;
  private readonly newClient: (config: LdapConfig) => Client;

  constructor(
    readonly config: LdapConfig,
    private readonly options: LdapDirectoryOptions,
  ) {
    this.newClient = options.newClient ?? defaultClient;
    this.service = this.newClient(config);
  }

  /** For messages: which directory this is. */
  describe(): string {
    return `LDAP ${this.config.url} (base ${this.config.baseDn})`;
  }

  // ----- domains (from the configuration: LDAP has no accepted domains) ---------------

  async listDomains(): Promise<string[]> {
    return [...this.config.domains].sort();
  }

  async isAcceptedDomain(name: string): Promise<boolean> {
    const domain = normalizeDomain(name);
    return domain.ok && this.config.domains.includes(domain.value);
  }

  // ----- reads ------------------------------------------------------------------------

  async findUser(addressOrAlias: string): Promise<DirectoryUser | null> {
    const address = normalizeAddress(addressOrAlias);
    if (!address.ok) return null;
    const entry = await thrownAsUnavailable(() => this.lookAddress(address.value));
    return entry?.kind === 'user' ? entry.user : null;
  }

  async authenticate(login: string, password: string): Promise<Result<DirectoryUser>> {
    const denied = fail('AUTHENTICATION_FAILED', 'authentication failed');
    const checked = validatePassword(password);
    // An empty password would be an "unauthenticated bind", which LDAP may answer with success.
    if (!checked.ok) return denied;
    const address = normalizeAddress(login);
    if (!address.ok) return denied;
    let entry: LdapEntry | null;
    try {
      // Never from the cache: a login sees a removed or moved entry at once.
      entry = await this.searchOne(addressFilter(this.config, address.value, 'login'));
    } catch (error) {
      return unavailable(error);
    }
    // With proxyAddresses the login is the primary address (the filter also finds an smtp: alias).
    const user = entry?.kind === 'user' && (this.config.attributes.proxyAddresses === null || entry.user.address === address.value) ? entry : null;
    // An unknown login binds too (to a DN that does not exist), so it costs one round trip as well.
    const dn = user?.dn ?? `cn=quire-no-such-user,${this.config.baseDn}`;
    const client = this.newClient(this.config);
    try {
      await client.bind(dn, checked.value);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'number' && refusedBindCodes.has(code)) return denied;
      return unavailable(error);
    } finally {
      await client.unbind().catch(() => undefined);
    }
    if (user === null) return denied;
    this.remember(`address:${address.value}`, user);
    return ok(user.user);
  }

  async resolveRecipient(input: string): Promise<Result<DirectoryUser[]>> {
    const address = normalizeAddress(input);
    if (!address.ok) return address;
    try {
      const entry = await this.lookAddress(address.value);
      if (entry === null || entry.kind === 'other') return fail('NO_SUCH_USER', `no such recipient ${address.value}`);
      if (entry.kind === 'user') return ok([entry.user]);
      const users = await expandGroup({ kind: 'group', key: dnKey(entry.dn), members: entry.members }, {
        look: async (dn) => nodeOf(await this.lookDn(dn)),
        parallelMax: ldapMemberReadsParallelMax,
        looksMax: ldapExpansionEntriesMax,
      });
      return users.ok || users.code !== 'NO_SUCH_USER' ? users : fail('NO_SUCH_USER', `group ${address.value} has no members`);
    } catch (error) {
      return unavailable(error);
    }
  }

  async listUsers(): Promise<DirectoryUser[]> {
    return (await thrownAsUnavailable(() => this.snapshot())).users;
  }

  async listGroups(): Promise<DirectoryGroup[]> {
    return (await thrownAsUnavailable(() => this.snapshot())).groups;
  }

  /**
   * Moves when the users or groups change. LDAP has no change counter that every server
   * keeps, so this lists the directory (at most once per cacheTtlMs) and compares a digest
   * of what it read; the number counts changes seen by this process.
   */
  async version(): Promise<number> {
    const snapshot = await thrownAsUnavailable(() => this.snapshot());
    if (snapshot.digest !== this.versionDigest) {
      this.versionDigest = snapshot.digest;
      this.versionNumber++;
    }
    return this.versionNumber;
  }

  // ----- writes: the organisation's directory is not Quire's to change ----------------

  private readOnly(what: string): Promise<Result<never>> {
    return Promise.resolve(fail('NOT_AUTHORIZED', `the directory is ${this.describe()}, which Quire only reads: ${what} in LDAP, not with quire`));
  }

  addDomain(_name: string): Promise<Result<void>> {
    return Promise.resolve(fail('NOT_AUTHORIZED', 'with an LDAP directory the accepted domains are the "domains" of ldap.json'));
  }
  addUser(_input: AddUserInput): Promise<Result<DirectoryUser>> {
    return this.readOnly('add users');
  }
  removeUser(_address: string): Promise<Result<DirectoryUser>> {
    return this.readOnly('remove users');
  }
  setPassword(_address: string, _password: string): Promise<Result<void>> {
    return this.readOnly('change passwords');
  }
  setQuota(_address: string, _quotaBytes: number | null): Promise<Result<void>> {
    return this.readOnly(this.config.attributes.quota === null ? 'map a quota attribute (attributes.quota) and set quotas' : `set quotas (attribute ${this.config.attributes.quota})`);
  }
  setDatabase(_address: string, _database: string): Promise<Result<void>> {
    return this.readOnly('move mailboxes (the database is an attribute of the LDAP entry)');
  }
  addAlias(_alias: string, _address: string): Promise<Result<void>> {
    return this.readOnly(`add aliases (attribute ${this.config.attributes.alias})`);
  }
  removeAlias(_alias: string): Promise<Result<void>> {
    return this.readOnly(`remove aliases (attribute ${this.config.attributes.alias})`);
  }
  addGroup(_address: string, _members: string[]): Promise<Result<void>> {
    return this.readOnly('add groups');
  }
  removeGroup(_address: string): Promise<Result<void>> {
    return this.readOnly('remove groups');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.service.unbind().catch(() => undefined);
  }

  // ----- machinery --------------------------------------------------------------------

  private lookAddress(address: string): Promise<LdapEntry | null> {
    return this.cached(`address:${address}`, () => this.searchOne(addressFilter(this.config, address, 'users and groups')));
  }

  private lookDn(dn: string): Promise<LdapEntry | null> {
    return this.cached(`dn:${dnKey(dn)}`, async () => {
      try {
        const entries = await this.search(dn, 'base', new PresenceFilter({ attribute: 'objectClass' }), 2);
        return entries.length === 0 ? null : this.toEntry(entries[0]!);
      } catch (error) {
        // A member that no longer exists (noSuchObject) or a malformed member value is skipped.
        const code = (error as { code?: unknown }).code;
        if (code === 32 || code === 34) return null;
        throw error;
      }
    });
  }

  private async cached(key: string, load: () => Promise<LdapEntry | null>): Promise<LdapEntry | null> {
    const nowMs = this.options.clock.nowMs();
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.expiresAtMs > nowMs) return hit.value;
    const value = await load();
    this.remember(key, value);
    return value;
  }

  private remember(key: string, value: LdapEntry | null): void {
    if (this.config.cacheTtlMs === 0) return;
    this.cache.delete(key);
    this.cache.set(key, { value, expiresAtMs: this.options.clock.nowMs() + this.config.cacheTtlMs });
    while (this.cache.size > ldapCacheEntriesMax) this.cache.delete(this.cache.keys().next().value!);
  }

  /** The one user or group with this address; null when none. Two entries claiming one address is a directory error. */
  private async searchOne(filter: Filter): Promise<LdapEntry | null> {
    let entries: Entry[];
    try {
      entries = await this.search(this.config.baseDn, 'sub', filter, 2);
    } catch (error) {
      // A server that answers the size limit with an error rather than the first entries.
      if (error instanceof QuireError && error.code === 'LIMIT') throw new Unavailable(`LDAP has more than one entry for one address (${filter.toString()}): fix the directory`);
      throw error;
    }
    if (entries.length > 1) {
      throw new Unavailable(`LDAP has more than one entry for one address (${entries.map((e) => e.dn).join('; ')}, at least): fix the directory`);
    }
    return entries.length === 0 ? null : this.toEntry(entries[0]!);
  }

  private attributeList(): string[] {
    const a = this.config.attributes;
    return ['objectClass', 'cn', 'createTimestamp', a.mail, a.alias, a.displayName, a.mailboxId, a.member, ...[a.database, a.quota, a.proxyAddresses].filter((x): x is string => x !== null)];
  }

  private async search(base: string, scope: 'base' | 'sub', filter: Filter, sizeLimit: number, paged = false): Promise<Entry[]> {
    await this.bindService();
    try {
      const result = await this.service.search(base, {
        scope,
        filter,
        attributes: this.attributeList(),
        sizeLimit,
        ...(paged ? { paged: { pageSize: ldapPageSize } } : {}),
      });
      return result.searchEntries;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 4) throw new QuireError('LIMIT', `LDAP search under ${base} returns more than ${sizeLimit} entries`);
      throw error;
    }
  }

  private async bindService(): Promise<void> {
    if (this.closed) throw new Unavailable('the LDAP directory is closed');
    if (this.service.isConnected && this.service.isBound) return;
    this.serviceBind ??= this.service.bind(this.config.bindDn, this.config.bindPassword).finally(() => {
      this.serviceBind = null;
    });
    try {
      await this.serviceBind;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 49) throw new Unavailable(`LDAP refuses the service account ${this.config.bindDn} (invalid credentials): check bindDn and bindPassword`);
      throw error;
    }
  }

  private toEntry(raw: Entry): LdapEntry {
    const a = this.config.attributes;
    const classes = values(raw, 'objectClass').map((c) => c.toLowerCase());
    // proxyAddresses: SMTP: is the primary address (listed first), smtp: the aliases.
    const proxies = a.proxyAddresses === null ? [] : values(raw, a.proxyAddresses).filter((v) => /^smtp:/i.test(v));
    const primaryProxy = proxies.find((v) => v.startsWith('SMTP:'))?.slice(5);
    const addresses = normalizedAddresses([...(primaryProxy === undefined ? [] : [primaryProxy]), ...values(raw, a.mail), ...values(raw, a.alias), ...proxies.map((v) => v.slice(5))]);
    if (classes.includes(this.config.groupObjectClass.toLowerCase())) {
      return { kind: 'group', dn: raw.dn, addresses, members: values(raw, a.member) };
    }
    const mail = normalizeAddress(primaryProxy ?? values(raw, a.mail)[0] ?? '');
    if (!classes.includes(this.config.userObjectClass.toLowerCase()) || !mail.ok) return { kind: 'other', dn: raw.dn };
    const idSource = values(raw, a.mailboxId)[0];
    if (idSource === undefined) throw new Unavailable(`LDAP entry ${raw.dn} has no ${a.mailboxId} (the mailbox id attribute)`);
    const database = a.database === null ? undefined : values(raw, a.database)[0];
    const quotaText = a.quota === null ? undefined : values(raw, a.quota)[0];
    const quota = quotaText === undefined ? ok(null) : parseSize(quotaText);
    const displayName = validateDisplayName(values(raw, a.displayName)[0] ?? values(raw, 'cn')[0] ?? mail.value.slice(0, mail.value.indexOf('@')));
    return {
      kind: 'user',
      dn: raw.dn,
      user: {
        address: mail.value,
        mailboxId: mailboxIdOf(idSource),
        database: database !== undefined && validateDatabaseName(database).ok ? database : this.config.defaultDatabase,
        // An unreadable quota value is no quota rather than no mail.
        quotaBytes: quota.ok ? quota.value : null,
        displayName: displayName.ok ? displayName.value : mail.value,
        aliases: addresses.filter((x) => x !== mail.value).sort(),
        createdAtMs: generalizedTimeMs(values(raw, 'createTimestamp')[0]),
      },
    };
  }

  private async snapshot(): Promise<Snapshot> {
    const nowMs = this.options.clock.nowMs();
    const current = this.snapshotCache;
    if (current !== null && nowMs - current.readAtMs < this.config.cacheTtlMs) return current;
    this.snapshotLoading ??= this.readSnapshot(nowMs).finally(() => {
      this.snapshotLoading = null;
    });
    return this.snapshotLoading;
  }

  private async readSnapshot(nowMs: number): Promise<Snapshot> {
    const filter = new OrFilter({
      filters: [
        new AndFilter({
          filters: [
            new EqualityFilter({ attribute: 'objectClass', value: this.config.userObjectClass }),
            this.config.attributes.proxyAddresses === null
              ? new PresenceFilter({ attribute: this.config.attributes.mail })
              : new OrFilter({ filters: [new PresenceFilter({ attribute: this.config.attributes.mail }), new PresenceFilter({ attribute: this.config.attributes.proxyAddresses })] }),
          ],
        }),
        new EqualityFilter({ attribute: 'objectClass', value: this.config.groupObjectClass }),
      ],
    });
    const raw = await this.search(this.config.baseDn, 'sub', filter, ldapListEntriesMax, true);
    const entries = raw.map((e) => this.toEntry(e));
    const addressOfDn = new Map<string, string>();
    const users: DirectoryUser[] = [];
    for (const entry of entries) {
      if (entry.kind === 'user') {
        users.push(entry.user);
        addressOfDn.set(dnKey(entry.dn), entry.user.address);
      } else if (entry.kind === 'group' && entry.addresses[0] !== undefined) {
        addressOfDn.set(dnKey(entry.dn), entry.addresses[0]);
      }
    }
    const groups: DirectoryGroup[] = [];
    for (const entry of entries) {
      if (entry.kind !== 'group' || entry.addresses[0] === undefined) continue;
      const members = entry.members.map((dn) => addressOfDn.get(dnKey(dn))).filter((x): x is string => x !== undefined);
      groups.push({ address: entry.addresses[0], members: [...new Set(members)] });
    }
    users.sort((x, y) => (x.address < y.address ? -1 : 1));
    groups.sort((x, y) => (x.address < y.address ? -1 : 1));
    const digest = createHash('sha256').update(JSON.stringify([users, groups])).digest('hex');
    const snapshot = { users, groups, digest, readAtMs: nowMs };
    this.snapshotCache = snapshot;
    return snapshot;
  }
}

function defaultClient(config: LdapConfig): Client {
  return new Client({ url: config.url, timeout: config.operationTimeoutMs, connectTimeout: config.connectTimeoutMs, autoRebind: true });
}

/** For the calls that return plain values: any failure to ask LDAP is thrown as DIRECTORY_UNAVAILABLE (a QuireError), never a null. */
async function thrownAsUnavailable<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof QuireError) throw error;
    throw new Unavailable(`LDAP cannot be reached: ${(error as Error).message}`);
  }
}

function unavailable(error: unknown): Result<never> {
  if (error instanceof QuireError) return error.toFailure();
  return fail('DIRECTORY_UNAVAILABLE', `LDAP cannot be reached: ${(error as Error).message}`);
}
