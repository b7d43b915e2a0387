// The embedded directory: the directory of `quire start` with no LDAP. It lives in
// `<dataDir>/directory/`:
//
//   events.log   the truth: an append-only log of directory events (format in log.ts)
//   lock         the pid of the one process that has the directory open
//
// Every change is checked against the state, appended and fdatasync'ed, and only then
// applied in memory and acknowledged: when a call says ok, the change survives a crash.
// Opening replays the log; a torn last line (a crash mid-append) is cut off, anything
// else that does not read back is a hard error naming the file and the line.

import * as path from 'node:path';
import { assert } from '../assert.js';
import { fail, ok, type Failure, type Result } from '../errors.js';
import { nodeStorage, systemClock, systemPrng, type Storage, type StorageFile } from '../io.js';
import {
  aliasesPerUserMax,
  compactionRecordsMin,
  compactionRecordsPerEntityMax,
  groupMembersMax,
  logLineBytesMax,
} from './constants.js';
import {
  domainOf,
  normalizeAddress,
  normalizeDomain,
  validateDatabaseName,
  validateDisplayName,
  validatePassword,
  validateQuota,
  type AddUserInput,
  type Clock,
  type Directory,
  type DirectoryGroup,
  type DirectoryUser,
  type RandomBytes,
} from './directory.js';
import { expandGroup, type ExpansionNode } from './expand.js';
import { DirectoryLock, nodeIsProcessAlive } from './lock.js';
import { asHeader, asRecord, decodeLine, encodeLine, logFormat, logFormatVersion, type LogRecord } from './log.js';
import { PasswordHasher, productionScryptParams, type ScryptParams } from './password.js';
import {
  addressTaken,
  applyEvent,
  checkEvent,
  emptyState,
  entityCount,
  publicGroup,
  publicUser,
  snapshotEvents,
  type DirectoryEvent,
  type DirectoryState,
  type StoredUser,
} from './state.js';

export const directoryFolderName = 'directory';
export const logFileName = 'events.log';
export const lockFileName = 'lock';

export interface EmbeddedDirectoryOptions {
  readonly clock: Clock;
  readonly randomBytes: RandomBytes;
  /** The log goes through this (the simulator's faulty disk in tests); the lock file does not: it is about processes. */
  readonly storage: Storage;
  /** The pid written into the lock file. */
  readonly pid: number;
  readonly isProcessAlive: (pid: number) => boolean;
  /** Production parameters unless a test asks for cheaper ones. */
  readonly scrypt?: ScryptParams;
  /** Overrides of the compaction thresholds in constants.ts (tests). */
  readonly compactionRecordsMin?: number;
}

/** Real time, real randomness, this process: what the server and the CLI pass. */
export function nodeDirectoryOptions(): EmbeddedDirectoryOptions {
  const prng = systemPrng();
  return {
    clock: systemClock(),
    randomBytes: (n) => prng.bytes(n),
    storage: nodeStorage(),
    pid: process.pid,
    isProcessAlive: nodeIsProcessAlive,
  };
}

/**
 * Opens (creating if needed) the embedded directory of `dataDir`, taking its lock.
 * DIRECTORY_UNAVAILABLE when another live process holds it, CORRUPT when the log does not
 * read back. Call close() to release the lock.
 */
export async function openEmbeddedDirectory(
  dataDir: string,
  options: EmbeddedDirectoryOptions = nodeDirectoryOptions(),
): Promise<Result<EmbeddedDirectory>> {
  const folder = path.join(dataDir, directoryFolderName);
  try {
    await options.storage.mkdirp(folder);
  } catch (error) {
    return fail('DIRECTORY_UNAVAILABLE', `cannot create ${folder}: ${(error as Error).message}`);
  }
  const lock = await DirectoryLock.acquire(path.join(folder, lockFileName), {
    pid: options.pid,
    isProcessAlive: options.isProcessAlive,
    nowMs: () => options.clock.nowMs(),
  });
  if (!lock.ok) return lock;
  try {
    const opened = await openLog(folder, options);
    if (!opened.ok) {
      await lock.value.release();
      return opened;
    }
    return ok(new EmbeddedDirectory(folder, lock.value, opened.value, options));
  } catch (error) {
    await lock.value.release();
    return fail('DIRECTORY_UNAVAILABLE', `cannot open the directory in ${folder}: ${(error as Error).message}`);
  }
}

interface OpenedLog {
  state: DirectoryState;
  handle: StorageFile;
  logBytes: number;
  seqNext: number;
}

function corrupt(file: string, lineNumber: number, why: string): Failure {
  return fail('CORRUPT', `${file} line ${lineNumber}: ${why}`);
}

async function openLog(folder: string, options: EmbeddedDirectoryOptions): Promise<Result<OpenedLog>> {
  const file = path.join(folder, logFileName);
  const { storage } = options;
  let bytes: Uint8Array | null;
  try {
    bytes = await storage.readAll(file);
  } catch (error) {
    return fail('DIRECTORY_UNAVAILABLE', `cannot read ${file}: ${(error as Error).message}`);
  }
  // A last line without its LF was being appended when the process died. It was never
  // acknowledged, so cutting it off loses nothing that anyone was told is durable.
  let keptBytes = bytes === null ? 0 : bytes.lastIndexOf(0x0a) + 1;
  const torn = bytes !== null && keptBytes < bytes.length;
  if (keptBytes === 0) {
    // A new directory, or a crash before the header reached the disk: start a log.
    const header = encodeLine({ seq: 0, format: logFormat, formatVersion: logFormatVersion, version: 0, atMs: options.clock.nowMs() });
    await storage.writeAtomic(file, Buffer.from(header, 'utf8'));
    bytes = Buffer.from(header, 'utf8');
    keptBytes = bytes.length;
  }
  assert(bytes !== null, 'log bytes read or written');
  const handle = await storage.open(file, { create: false });
  if (torn && keptBytes < (await handle.size())) {
    await handle.truncate(keptBytes);
    await handle.sync();
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, keptBytes).toString('utf8');
  const lines = text.split('\n');
  assert(lines.pop() === '', 'log text ends with LF here');

  const state = emptyState();
  let snapshotAllowed = true;
  const refuse = async (lineNumber: number, why: string): Promise<Failure> => {
    await handle.close();
    return corrupt(file, lineNumber, why);
  };
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const decoded = decodeLine(lines[index]!);
    if ('error' in decoded) return refuse(lineNumber, decoded.error);
    if (index === 0) {
      const header = asHeader(decoded.value);
      if (typeof header === 'string') return refuse(lineNumber, header);
      state.version = header.version;
      continue;
    }
    const record = asRecord(decoded.value);
    if (typeof record === 'string') return refuse(lineNumber, record);
    if (record.seq !== index) return refuse(lineNumber, `seq ${record.seq} where ${index} was expected`);
    if (record.snapshot === true && !snapshotAllowed) return refuse(lineNumber, 'snapshot record after a change record');
    if (record.snapshot !== true) snapshotAllowed = false;
    const why = checkEvent(state, record.event);
    if (why !== null) return refuse(lineNumber, `${record.event.type} does not apply: ${why}`);
    applyEvent(state, record.event);
    if (record.snapshot !== true) state.version++;
  }

  return ok({ state, handle, logBytes: keptBytes, seqNext: lines.length });
}

export class EmbeddedDirectory implements Directory {
  private state: DirectoryState;
  private handle: StorageFile | null;
  private logBytes: number;
  private seqNext: number;
  /** Changes run one at a time, in call order: each is checked against the state the previous one left. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Set when an append failed and could not be undone: the log tail is unknown, so stop writing. */
  private broken: string | null = null;
  private closed = false;
  private readonly hasher: PasswordHasher;
  private readonly file: string;

  constructor(
    readonly folder: string,
    private readonly lock: DirectoryLock,
    opened: OpenedLog,
    private readonly options: EmbeddedDirectoryOptions,
  ) {
    this.state = opened.state;
    this.handle = opened.handle;
    this.logBytes = opened.logBytes;
    this.seqNext = opened.seqNext;
    this.file = path.join(folder, logFileName);
    this.hasher = new PasswordHasher(options.randomBytes, options.scrypt ?? productionScryptParams);
  }

  // ----- reads -------------------------------------------------------------------------

  async listDomains(): Promise<string[]> {
    return [...this.state.domains].sort();
  }

  async isAcceptedDomain(name: string): Promise<boolean> {
    const domain = normalizeDomain(name);
    return domain.ok && this.state.domains.has(domain.value);
  }

  async findUser(addressOrAlias: string): Promise<DirectoryUser | null> {
    const user = this.lookUser(addressOrAlias);
    return user === null ? null : publicUser(user);
  }

  async listUsers(): Promise<DirectoryUser[]> {
    return [...this.state.users.values()].sort((a, b) => (a.address < b.address ? -1 : 1)).map(publicUser);
  }

  async listGroups(): Promise<DirectoryGroup[]> {
    return [...this.state.groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([a, m]) => publicGroup(a, m));
  }

  async version(): Promise<number> {
    return this.state.version;
  }

  async authenticate(login: string, password: string): Promise<Result<DirectoryUser>> {
    const denied = fail('AUTHENTICATION_FAILED', 'authentication failed');
    const address = normalizeAddress(login);
    const user = address.ok ? this.state.users.get(address.value) : undefined;
    const checked = validatePassword(password);
    // Every path runs exactly one KDF with the current parameters' cost (a stored hash
    // with old parameters costs what it cost then): unknown logins are not faster.
    const candidate = checked.ok ? checked.value : String(password).slice(0, 1024);
    if (user === undefined || !checked.ok) {
      await this.hasher.verifyDummy(candidate);
      return denied;
    }
    if (!(await this.hasher.verify(candidate, user.passwordHash))) return denied;
    if (this.hasher.needsRehash(user.passwordHash)) {
      // Upgrade the hash while we hold the password. Best effort: the login succeeds either way.
      await this.setPassword(user.address, candidate);
    }
    return ok(publicUser(this.state.users.get(user.address) ?? user));
  }

  async resolveRecipient(input: string): Promise<Result<DirectoryUser[]>> {
    const address = normalizeAddress(input);
    if (!address.ok) return address;
    const node = this.node(address.value);
    if (node === null) return fail('NO_SUCH_USER', `no such recipient ${address.value}`);
    if (node.kind === 'user') return ok([node.user]);
    return expandGroup(node, { look: async (member) => this.node(member) });
  }

  /** A user (by address or alias), a group, or null: what group expansion (expand.ts) walks. */
  private node(address: string): ExpansionNode | null {
    const user = this.lookUser(address);
    if (user !== null) return { kind: 'user', user: publicUser(user) };
    const members = this.state.groups.get(address);
    return members === undefined ? null : { kind: 'group', key: address, members };
  }

  private lookUser(input: string): StoredUser | null {
    const address = normalizeAddress(input);
    if (!address.ok) return null;
    const primary = this.state.aliases.get(address.value) ?? address.value;
    return this.state.users.get(primary) ?? null;
  }

  // ----- changes -----------------------------------------------------------------------

  addDomain(name: string): Promise<Result<void>> {
    return this.change(async () => {
      const domain = normalizeDomain(name);
      if (!domain.ok) return domain;
      if (this.state.domains.has(domain.value)) return fail('USER_EXISTS', `domain ${domain.value} already exists`);
      return this.commit({ type: 'domain.add', name: domain.value }, undefined);
    });
  }

  addUser(input: AddUserInput): Promise<Result<DirectoryUser>> {
    return this.change(async () => {
      const address = this.acceptedAddress(input.address);
      if (!address.ok) return address;
      const taken = addressTaken(this.state, address.value);
      if (taken !== null) return fail('USER_EXISTS', `${address.value} already exists as a ${taken}`);
      const password = validatePassword(input.password);
      if (!password.ok) return password;
      const database = validateDatabaseName(input.database);
      if (!database.ok) return database;
      const quota = validateQuota(input.quotaBytes ?? null);
      if (!quota.ok) return quota;
      const displayName = validateDisplayName(input.displayName ?? address.value.slice(0, address.value.lastIndexOf('@')));
      if (!displayName.ok) return displayName;
      const user: StoredUser = {
        address: address.value,
        mailboxId: this.newMailboxId(),
        database: database.value,
        quotaBytes: quota.value,
        displayName: displayName.value,
        aliases: [],
        createdAtMs: this.options.clock.nowMs(),
        passwordHash: await this.hasher.hash(password.value),
      };
      return this.commit({ type: 'user.add', user }, publicUser(user));
    });
  }

  removeUser(input: string): Promise<Result<DirectoryUser>> {
    return this.change(async () => {
      const user = this.existingUser(input);
      if (!user.ok) return user;
      const { address, mailboxId, aliases } = user.value;
      return this.commit({ type: 'user.remove', address, mailboxId, aliases: [...aliases] }, publicUser(user.value));
    });
  }

  setPassword(input: string, password: string): Promise<Result<void>> {
    return this.change(async () => {
      const user = this.existingUser(input);
      if (!user.ok) return user;
      const checked = validatePassword(password);
      if (!checked.ok) return checked;
      const passwordHash = await this.hasher.hash(checked.value);
      return this.commit({ type: 'user.password', address: user.value.address, passwordHash }, undefined);
    });
  }

  setQuota(input: string, quotaBytes: number | null): Promise<Result<void>> {
    return this.change(async () => {
      const user = this.existingUser(input);
      if (!user.ok) return user;
      const quota = validateQuota(quotaBytes);
      if (!quota.ok) return quota;
      return this.commit({ type: 'user.quota', address: user.value.address, quotaBytes: quota.value }, undefined);
    });
  }

  setDatabase(input: string, databaseName: string): Promise<Result<void>> {
    return this.change(async () => {
      const user = this.existingUser(input);
      if (!user.ok) return user;
      const database = validateDatabaseName(databaseName);
      if (!database.ok) return database;
      return this.commit({ type: 'user.database', address: user.value.address, mailboxId: user.value.mailboxId, database: database.value }, undefined);
    });
  }

  addAlias(aliasInput: string, addressInput: string): Promise<Result<void>> {
    return this.change(async () => {
      const alias = this.acceptedAddress(aliasInput);
      if (!alias.ok) return alias;
      const taken = addressTaken(this.state, alias.value);
      if (taken !== null) return fail('USER_EXISTS', `${alias.value} already exists as a ${taken}`);
      const user = this.existingUser(addressInput);
      if (!user.ok) return user;
      if (user.value.aliases.length >= aliasesPerUserMax) {
        return fail('LIMIT', `${user.value.address} already has ${aliasesPerUserMax} aliases`);
      }
      return this.commit({ type: 'alias.add', alias: alias.value, address: user.value.address }, undefined);
    });
  }

  removeAlias(aliasInput: string): Promise<Result<void>> {
    return this.change(async () => {
      const alias = normalizeAddress(aliasInput);
      if (!alias.ok) return alias;
      const address = this.state.aliases.get(alias.value);
      if (address === undefined) return fail('NO_SUCH_USER', `no alias ${alias.value}`);
      return this.commit({ type: 'alias.remove', alias: alias.value, address }, undefined);
    });
  }

  addGroup(addressInput: string, memberInputs: string[]): Promise<Result<void>> {
    return this.change(async () => {
      const address = this.acceptedAddress(addressInput);
      if (!address.ok) return address;
      const taken = addressTaken(this.state, address.value);
      if (taken !== null) return fail('USER_EXISTS', `${address.value} already exists as a ${taken}`);
      if (!Array.isArray(memberInputs)) return fail('INVALID_ARGUMENT', 'members must be a list of addresses');
      if (memberInputs.length > groupMembersMax) {
        return fail('INVALID_ARGUMENT', `a group has at most ${groupMembersMax} members`);
      }
      const members: string[] = [];
      for (const input of memberInputs) {
        const member = normalizeAddress(input);
        if (!member.ok) return member;
        if (member.value === address.value) return fail('INVALID_ARGUMENT', `group ${address.value} cannot contain itself`);
        if (addressTaken(this.state, member.value) === null) {
          return fail('INVALID_ARGUMENT', `group member ${member.value} is not a user, alias or group`);
        }
        if (!members.includes(member.value)) members.push(member.value);
      }
      return this.commit({ type: 'group.add', address: address.value, members }, undefined);
    });
  }

  removeGroup(addressInput: string): Promise<Result<void>> {
    return this.change(async () => {
      const address = normalizeAddress(addressInput);
      if (!address.ok) return address;
      const members = this.state.groups.get(address.value);
      if (members === undefined) return fail('NO_SUCH_USER', `no group ${address.value}`);
      return this.commit({ type: 'group.remove', address: address.value, members: [...members] }, undefined);
    });
  }

  /** Rewrites the log as a snapshot of the current state. Runs by itself when the log grows; public for tests and the CLI. */
  compact(): Promise<Result<void>> {
    return this.change(() => this.compactNow());
  }

  /** Waits for changes in flight, then releases the log and the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    const handle = this.handle;
    this.handle = null;
    try {
      if (handle !== null) await handle.close();
    } finally {
      await this.lock.release();
    }
  }

  // ----- machinery ---------------------------------------------------------------------

  private change<T>(work: () => Promise<Result<T>>): Promise<Result<T>> {
    const run = async (): Promise<Result<T>> => {
      if (this.closed) return fail('DIRECTORY_UNAVAILABLE', 'directory is closed');
      if (this.broken !== null) return fail('DIRECTORY_UNAVAILABLE', this.broken);
      return work();
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Appends one change durably, then applies it. Runs inside change(). */
  private async commit<T>(event: DirectoryEvent, value: T): Promise<Result<T>> {
    const why = checkEvent(this.state, event);
    assert(why === null, `directory change checked before commit does not apply: ${why}`);
    const record: LogRecord = { seq: this.seqNext, atMs: this.options.clock.nowMs(), event };
    const line = encodeLine(record);
    const lineBytes = Buffer.byteLength(line, 'utf8');
    assert(lineBytes <= logLineBytesMax, `directory record of ${lineBytes} bytes exceeds the limit`);
    const written = await this.append(line);
    if (!written.ok) return written;
    this.seqNext++;
    applyEvent(this.state, event);
    this.state.version++;
    if (this.shouldCompact()) {
      // The change is already durable; a failed compaction leaves the old log, which is fine.
      await this.compactNow();
    }
    return ok(value);
  }

  private async append(line: string): Promise<Result<void>> {
    const handle = this.handle;
    assert(handle !== null, 'append on a closed directory');
    const before = this.logBytes;
    const bytes = Buffer.from(line, 'utf8');
    try {
      await handle.write(before, bytes);
      await handle.sync();
      this.logBytes += bytes.length;
      return ok(undefined);
    } catch (error) {
      const failure = fail((error as NodeJS.ErrnoException).code === 'ENOSPC' ? 'DISK_FULL' : 'DIRECTORY_UNAVAILABLE',
        `cannot append to ${this.file}: ${(error as Error).message}`);
      // Take the partial line back out, or the next append would bury it mid-log.
      try {
        await handle.truncate(before);
        await handle.sync();
      } catch {
        this.broken = `${this.file} has an unknown tail after a failed append; reopen the directory`;
      }
      return failure;
    }
  }

  private shouldCompact(): boolean {
    const recordsMin = this.options.compactionRecordsMin ?? compactionRecordsMin;
    return this.seqNext >= recordsMin && this.seqNext > compactionRecordsPerEntityMax * (entityCount(this.state) + 1);
  }

  private async compactNow(): Promise<Result<void>> {
    const handle = this.handle;
    assert(handle !== null, 'compaction on a closed directory');
    const atMs = this.options.clock.nowMs();
    const lines = [encodeLine({ seq: 0, format: logFormat, formatVersion: logFormatVersion, version: this.state.version, atMs })];
    const events = snapshotEvents(this.state);
    for (let i = 0; i < events.length; i++) lines.push(encodeLine({ seq: i + 1, atMs, snapshot: true, event: events[i]! }));
    const text = lines.join('');
    // The rename is the commit point: before it the old log is whole and stays in use.
    const bytes = Buffer.from(text, 'utf8');
    try {
      await this.options.storage.writeAtomic(this.file, bytes);
    } catch (error) {
      return fail('DIRECTORY_UNAVAILABLE', `compaction of ${this.file} failed: ${(error as Error).message}`);
    }
    // After it, appends must go to the new file: the old handle now points at an unlinked one.
    try {
      this.handle = await this.options.storage.open(this.file, { create: false });
    } catch (error) {
      this.broken = `cannot reopen ${this.file} after compaction: ${(error as Error).message}`;
      this.handle = null;
      await handle.close().catch(() => undefined);
      return fail('DIRECTORY_UNAVAILABLE', this.broken);
    }
    await handle.close();
    this.logBytes = bytes.length;
    this.seqNext = lines.length;
    return ok(undefined);
  }

  private acceptedAddress(input: string): Result<string> {
    const address = normalizeAddress(input);
    if (!address.ok) return address;
    const domain = domainOf(address.value);
    if (!this.state.domains.has(domain)) {
      return fail('INVALID_ARGUMENT', `domain ${domain} is not an accepted domain (add it first)`);
    }
    return address;
  }

  private existingUser(input: string): Result<StoredUser> {
    const address = normalizeAddress(input);
    if (!address.ok) return address;
    const user = this.state.users.get(address.value);
    if (user === undefined) return fail('NO_SUCH_USER', `no user ${address.value}`);
    return ok(user);
  }

  private newMailboxId(): string {
    const used = new Set([...this.state.users.values()].map((u) => u.mailboxId));
    for (let attempt = 0; attempt < 4; attempt++) {
      const bytes = this.options.randomBytes(16);
      assert(bytes.length === 16, 'randomBytes returned the wrong length');
      const id = Buffer.from(bytes).toString('hex');
      if (!used.has(id)) return id;
    }
    assert(false, 'randomBytes keeps returning mailbox ids already in use');
  }
}
