// The directory: who has a mailbox, where it lives, how they log in, and what an address
// expands to. Two implementations share this interface: the embedded one (a log in the data
// directory, embedded.ts) and LDAP (ldap.ts, read-only). The interface is shaped so that LDAP fits it:
// authentication is one call (a bind), lookups go by primary address or alias (the `mail`
// and `proxyAddresses`-like attributes), and groups expand to users.

import { fail, ok, type Result } from '../errors.js';
import type { Clock as EngineClock } from '../io.js';
import {
  addressBytesMax,
  databaseNameBytesMax,
  displayNameBytesMax,
  domainBytesMax,
  domainLabelBytesMax,
  localPartBytesMax,
  passwordBytesMax,
  passwordBytesMin,
  quotaBytesMax,
} from './constants.js';

export interface DirectoryUser {
  /** Primary SMTP address, lower-cased; also the login name. */
  readonly address: string;
  /** Stable id of the user's mailbox inside its database: 16 random bytes, hex, assigned at creation. */
  readonly mailboxId: string;
  /** The mailbox database that hosts the mailbox, e.g. 'DB01'. */
  readonly database: string;
  /** null means unlimited. */
  readonly quotaBytes: number | null;
  readonly displayName: string;
  /** Other addresses that deliver to this user, lower-cased, sorted. */
  readonly aliases: readonly string[];
  readonly createdAtMs: number;
}

export interface DirectoryGroup {
  readonly address: string;
  /** Addresses of users, aliases or other groups, as given at creation (lower-cased). */
  readonly members: readonly string[];
}

export interface AddUserInput {
  address: string;
  password: string;
  database: string;
  quotaBytes?: number | null;
  displayName?: string;
}

export interface Directory {
  listDomains(): Promise<string[]>;
  /** USER_EXISTS when the domain is already accepted (every name clash in the directory uses that code). */
  addDomain(name: string): Promise<Result<void>>;
  isAcceptedDomain(name: string): Promise<boolean>;

  addUser(input: AddUserInput): Promise<Result<DirectoryUser>>;
  /** Returns the removed user so the caller can remove the mailbox it names. */
  removeUser(address: string): Promise<Result<DirectoryUser>>;
  setPassword(address: string, password: string): Promise<Result<void>>;
  setQuota(address: string, quotaBytes: number | null): Promise<Result<void>>;
  /** Points the user at another database (the switch of a mailbox move; the mailbox id stays). */
  setDatabase(address: string, database: string): Promise<Result<void>>;
  /** AUTHENTICATION_FAILED for an unknown login and for a bad password alike, in the same time. */
  authenticate(login: string, password: string): Promise<Result<DirectoryUser>>;
  /** By primary address or alias; null for unknown addresses and for groups. */
  findUser(addressOrAlias: string): Promise<DirectoryUser | null>;
  listUsers(): Promise<DirectoryUser[]>;

  addAlias(alias: string, address: string): Promise<Result<void>>;
  removeAlias(alias: string): Promise<Result<void>>;
  /** Members must exist (user, alias or group) when the group is created. */
  addGroup(address: string, members: string[]): Promise<Result<void>>;
  removeGroup(address: string): Promise<Result<void>>;
  listGroups(): Promise<DirectoryGroup[]>;

  /**
   * The users mail to `address` goes to: a user, an alias's user, or a group expanded
   * recursively (loops cut, de-duplicated, depth and size capped). NO_SUCH_USER if nobody.
   */
  resolveRecipient(address: string): Promise<Result<DirectoryUser[]>>;

  /** Grows by one on every change; the address book is regenerated when it moves. */
  version(): Promise<number>;
  close(): Promise<void>;
}

/** Injected time (the engine's Clock, of which the directory needs only the wall clock). */
export type Clock = Pick<EngineClock, 'nowMs'>;

/** Injected randomness: n random bytes. */
export type RandomBytes = (n: number) => Uint8Array;

// ---------------------------------------------------------------------------------------
// Validation. Pure functions, shared by every implementation so that they accept the same
// inputs. ASCII only for now: SMTPUTF8 addresses are a later issue.

const localPartPattern = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const domainLabelPattern = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const databasePattern = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** A domain name, lower-cased, or INVALID_ARGUMENT saying what is wrong with it. */
export function normalizeDomain(name: string): Result<string> {
  if (typeof name !== 'string') return fail('INVALID_ARGUMENT', 'domain must be a string');
  const domain = name.trim().toLowerCase().replace(/\.$/, '');
  if (domain.length === 0) return fail('INVALID_ARGUMENT', 'domain is empty');
  if (domain.length > domainBytesMax) {
    return fail('INVALID_ARGUMENT', `domain is longer than ${domainBytesMax} characters`);
  }
  for (const label of domain.split('.')) {
    if (label.length > domainLabelBytesMax) {
      return fail('INVALID_ARGUMENT', `domain label "${label}" is longer than ${domainLabelBytesMax} characters`);
    }
    if (!domainLabelPattern.test(label)) {
      return fail('INVALID_ARGUMENT', `"${name}" is not a valid domain name`);
    }
  }
  return ok(domain);
}

/**
 * An address `local@domain`, lower-cased, or INVALID_ARGUMENT. Whether the domain is
 * accepted is the directory's business, not this function's.
 */
export function normalizeAddress(input: string): Result<string> {
  if (typeof input !== 'string') return fail('INVALID_ARGUMENT', 'address must be a string');
  const address = input.trim().toLowerCase();
  if (address.length > addressBytesMax) {
    return fail('INVALID_ARGUMENT', `address is longer than ${addressBytesMax} characters`);
  }
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) {
    return fail('INVALID_ARGUMENT', `"${input}" is not an address of the form local@domain`);
  }
  const local = address.slice(0, at);
  if (local.length > localPartBytesMax) {
    return fail('INVALID_ARGUMENT', `local part of "${input}" is longer than ${localPartBytesMax} characters`);
  }
  if (!localPartPattern.test(local)) {
    return fail('INVALID_ARGUMENT', `"${input}" has an invalid local part`);
  }
  const domain = normalizeDomain(address.slice(at + 1));
  if (!domain.ok) return fail('INVALID_ARGUMENT', `"${input}": ${domain.message}`);
  return ok(`${local}@${domain.value}`);
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

export function validatePassword(password: string): Result<string> {
  if (typeof password !== 'string') return fail('INVALID_ARGUMENT', 'password must be a string');
  // NFC so that the same password typed on two keyboards hashes the same (RFC 8265 in spirit).
  const normalized = password.normalize('NFC');
  const bytes = Buffer.byteLength(normalized, 'utf8');
  if (bytes < passwordBytesMin) return fail('INVALID_ARGUMENT', 'password is empty');
  if (bytes > passwordBytesMax) {
    return fail('INVALID_ARGUMENT', `password is longer than ${passwordBytesMax} bytes`);
  }
  return ok(normalized);
}

export function validateDatabaseName(name: string): Result<string> {
  if (typeof name !== 'string' || name.length === 0 || name.length > databaseNameBytesMax || !databasePattern.test(name)) {
    return fail('INVALID_ARGUMENT', `database name must be 1 to ${databaseNameBytesMax} letters, digits, "_" or "-"`);
  }
  return ok(name);
}

export function validateDisplayName(name: string): Result<string> {
  if (typeof name !== 'string') return fail('INVALID_ARGUMENT', 'display name must be a string');
  const trimmed = name.trim();
  if (Buffer.byteLength(trimmed, 'utf8') > displayNameBytesMax) {
    return fail('INVALID_ARGUMENT', `display name is longer than ${displayNameBytesMax} bytes`);
  }
  // Control characters would break header lines and the address book.
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) {
    return fail('INVALID_ARGUMENT', 'display name contains control characters');
  }
  return ok(trimmed);
}

export function validateQuota(quotaBytes: number | null): Result<number | null> {
  if (quotaBytes === null) return ok(null);
  if (typeof quotaBytes !== 'number' || !Number.isSafeInteger(quotaBytes) || quotaBytes < 0 || quotaBytes > quotaBytesMax) {
    return fail('INVALID_ARGUMENT', `quota must be a whole number of bytes from 0 to ${quotaBytesMax}, or unlimited`);
  }
  return ok(quotaBytes);
}

const sizeUnits: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * A size as typed by an operator: '1024', '500M', '2G', '1.5G' is refused, 'unlimited' is
 * null. Units are binary (K = 1024) and may end in B ('2GB'); case does not matter.
 */
export function parseSize(text: string): Result<number | null> {
  if (typeof text !== 'string') return fail('INVALID_ARGUMENT', 'size must be a string');
  const input = text.trim().toUpperCase();
  if (input === 'UNLIMITED') return ok(null);
  const match = /^(\d{1,16})\s*([KMGT]?)B?$/.exec(input);
  if (match === null) {
    return fail('INVALID_ARGUMENT', `"${text}" is not a size: use a number of bytes, with K, M, G or T, or "unlimited"`);
  }
  const bytes = Number(match[1]) * sizeUnits[match[2]!]!;
  if (!Number.isSafeInteger(bytes) || bytes > quotaBytesMax) {
    return fail('INVALID_ARGUMENT', `size "${text}" is larger than ${quotaBytesMax} bytes`);
  }
  return ok(bytes);
}
