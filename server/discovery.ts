// Multi-mailbox search (eDiscovery, Exchange's In-Place eDiscovery reduced): an administrator
// searches many mailboxes at once by text, sender, recipients (To or Cc) and a date range, gets
// the count per mailbox, and may copy what was found into a discovery mailbox — a normal
// mailbox (created if missing, e.g. discovery@example.org) — under a folder named after the
// search, one subfolder per source mailbox. A search of "all" mailboxes leaves out every mailbox
// results were ever copied into. Every search is recorded in an audit log.
//
//   searching ──► copying ──► done        (or failed; "interrupted" if the server stopped)
//
// The search runs through the mailbox API like any client: per folder, the date range on
// listMessages' internal dates, then the content criteria through `search` (each copy's
// content index, exact). Copies are appends of the messages' bytes with their internal dates.
//
// The audit log (DIR/discovery/audit.log) is append-only: one line per record, a CRC-32 and
// the JSON (the embedded directory's line format), fsynced before the request is answered:
//
//   started   {type, id, atMs, actor, query, mailboxes}       written before the search runs
//   finished  {type, id, atMs, state, counts, messagesFound, messagesCopied, copiedTo, folder, error}
//
// A damaged line (a torn last write) is skipped and named in the listing; nothing is rewritten.

import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { begin, type ContentCriterion, type MailboxApi, type MessageInfo, splitMessage } from '../engine/api.js';
import type { Directory, DirectoryUser } from '../engine/directory/index.js';
import { decodeLine, encodeLine } from '../engine/directory/log.js';
import { fail, ok, type Result } from '../engine/errors.js';
import { folderSeparator } from '../engine/constants.js';
import type { DiscoveryRequest } from '../protocols/http/admin.js';

/** Limits of a discovery search, units last. */
export const discoveryLimits = {
  /** Mailboxes named in one search (--all has no list). */
  mailboxesMax: 1000,
  /** Characters of each query string (text, from, to). */
  queryCharsMax: 1024,
  /** Characters of a search name (it becomes a folder name). */
  nameCharsMax: 100,
  /** Messages copied by one search. */
  messagesCopiedMax: 100_000,
  /** Appends per discovery-mailbox transaction, and their bytes. */
  transactionOpsMax: 64,
  transactionBytesMax: 16 * 1024 * 1024,
  /** Searches kept in memory for the listing (the audit log keeps all). */
  searchesListedMax: 1000,
} as const;

/** What a search looks for (the audit log keeps it as given). */
export type DiscoveryQuery = Pick<DiscoveryRequest, 'text' | 'from' | 'to' | 'sinceMs' | 'beforeMs'>;

export type DiscoveryState = 'searching' | 'copying' | 'done' | 'failed' | 'interrupted';

export interface MailboxCount {
  readonly address: string;
  readonly database: string;
  readonly messages: number;
  readonly sizeBytes: number;
  /** Set when the mailbox could not be searched (its database is down, ...). */
  readonly error?: string;
}

export interface DiscoverySearch {
  readonly id: string;
  readonly name: string;
  readonly actor: string;
  readonly query: DiscoveryQuery;
  readonly mailboxes: readonly string[] | 'all';
  readonly copyTo: string | null;
  state: DiscoveryState;
  startedAtMs: number;
  finishedAtMs: number | null;
  mailboxesTotal: number;
  mailboxesSearched: number;
  /** Per mailbox searched, its matching messages. */
  counts: MailboxCount[];
  messagesFound: number;
  messagesCopied: number;
  /** Where the copies went: the discovery mailbox's folder. */
  folder: string | null;
  error: string | null;
}

export interface DiscoveryOptions {
  /** The audit log (DIR/discovery/audit.log). */
  readonly auditPath: string;
  readonly directory: Directory;
  readonly apiFor: (database: string) => MailboxApi;
  /** Creates the discovery mailbox when it does not exist (server/users.ts addUser with a random password). */
  readonly createMailbox: (address: string) => Promise<Result<DirectoryUser>>;
  readonly nowMs: () => number;
  readonly newId: () => string;
  readonly log: (line: string) => void;
}

interface AuditStarted {
  readonly type: 'started';
  readonly id: string;
  readonly atMs: number;
  readonly name: string;
  readonly actor: string;
  readonly query: DiscoveryQuery;
  readonly mailboxes: readonly string[] | 'all';
  readonly copyTo: string | null;
}

interface AuditFinished {
  readonly type: 'finished';
  readonly id: string;
  readonly atMs: number;
  readonly state: DiscoveryState;
  readonly mailboxesSearched: number;
  /** Only the mailboxes with matches or errors (a search of every mailbox stays one line). */
  readonly counts: MailboxCount[];
  readonly messagesFound: number;
  readonly messagesCopied: number;
  readonly folder: string | null;
  readonly error: string | null;
}

/** Builds the content criterion of a query (null: every message, the date range aside). */
function criterionOf(query: DiscoveryQuery): ContentCriterion | null {
  const of: ContentCriterion[] = [];
  if (query.text !== undefined && query.text !== '') of.push({ key: 'text', value: query.text });
  if (query.from !== undefined && query.from !== '') of.push({ key: 'from', value: query.from });
  if (query.to !== undefined && query.to !== '') of.push({ key: 'or', of: [{ key: 'to', value: query.to }, { key: 'cc', value: query.to }] });
  if (of.length === 0) return null;
  return of.length === 1 ? of[0]! : { key: 'and', of };
}

/** What a search found in one folder: the UIDs, with the internal dates the copies keep and their prefixes' lengths (the content stays shared). */
interface Found {
  readonly user: DirectoryUser;
  readonly folder: string;
  readonly uids: number[];
  readonly infos: ReadonlyMap<number, Pick<MessageInfo, 'internalDateMs' | 'prefixBytes'> | undefined>;
}

export class DiscoveryManager {
  private readonly searches: DiscoverySearch[] = [];
  private readonly running = new Map<string, Promise<void>>();
  /** Lines of the audit log that could not be read (listed, never rewritten). */
  readonly damagedLines: number[] = [];
  /** Every mailbox results were ever copied into: left out of searches of all mailboxes. */
  private readonly discoveryMailboxes = new Set<string>();
  private stopping = false;

  constructor(private readonly options: DiscoveryOptions) {
    this.load();
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.options.auditPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const byId = new Map<string, DiscoverySearch>();
    text.split('\n').forEach((line, n) => {
      if (line === '') return;
      const decoded = decodeLine(line);
      if ('error' in decoded) {
        this.damagedLines.push(n + 1);
        return;
      }
      const record = decoded.value as AuditStarted | AuditFinished;
      if (record.type === 'started') {
        if (record.copyTo !== null) this.discoveryMailboxes.add(record.copyTo);
        byId.set(record.id, {
          id: record.id, name: record.name, actor: record.actor, query: record.query, mailboxes: record.mailboxes, copyTo: record.copyTo,
          state: 'interrupted', startedAtMs: record.atMs, finishedAtMs: null, mailboxesTotal: record.mailboxes === 'all' ? 0 : record.mailboxes.length,
          mailboxesSearched: 0, counts: [], messagesFound: 0, messagesCopied: 0, folder: null, error: 'the server stopped during the search',
        });
      } else if (record.type === 'finished') {
        const search = byId.get(record.id);
        if (search === undefined) return;
        Object.assign(search, {
          state: record.state, finishedAtMs: record.atMs, mailboxesSearched: record.mailboxesSearched, counts: record.counts,
          messagesFound: record.messagesFound, messagesCopied: record.messagesCopied, folder: record.folder, error: record.error,
        });
        search.mailboxesTotal = Math.max(search.mailboxesTotal, record.mailboxesSearched);
      }
    });
    this.searches.push(...[...byId.values()].slice(-discoveryLimits.searchesListedMax));
  }

  private audit(record: AuditStarted | AuditFinished): void {
    const line = encodeLine(record);
    mkdirSync(dirname(this.options.auditPath), { recursive: true, mode: 0o700 });
    const fd = openSync(this.options.auditPath, 'a+', 0o600);
    try {
      // After a torn write (no final line break) the new record starts on a line of its own.
      const size = fstatSync(fd).size;
      const last = Buffer.alloc(1);
      const torn = size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
      writeSync(fd, torn ? `\n${line}` : line);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Every search recorded, newest last, with its counts (the audit log's listing). */
  list(): DiscoverySearch[] {
    return this.searches.map((s) => structuredClone(s));
  }

  get(id: string): DiscoverySearch | null {
    const search = this.searches.find((s) => s.id === id);
    return search === undefined ? null : structuredClone(search);
  }

  /** Resolves when the search reaches a final state. */
  async wait(id: string): Promise<DiscoverySearch | null> {
    await this.running.get(id);
    return this.get(id);
  }

  /** Validates, records the start in the audit log and runs the search in the background. */
  async start(request: DiscoveryRequest, actor: string): Promise<Result<DiscoverySearch>> {
    const problem = checkRequest(request);
    if (problem !== null) return problem;
    const copyTo = request.copyTo === undefined ? null : request.copyTo.trim().toLowerCase();
    let mailboxes: readonly string[] | 'all' = request.mailboxes;
    // The mailboxes named, looked up once here (null: every mailbox, listed when the search runs).
    let named: DirectoryUser[] | null = null;
    if (mailboxes !== 'all') {
      mailboxes = [...new Set(mailboxes.map((a) => a.trim().toLowerCase()))];
      if (copyTo !== null && mailboxes.includes(copyTo)) return fail('INVALID_ARGUMENT', `the discovery mailbox ${copyTo} cannot be searched into itself`);
      named = [];
      for (const address of mailboxes) {
        const user = await this.options.directory.findUser(address);
        if (user === null) return fail('NO_SUCH_USER', `no mailbox ${address}`);
        named.push(user);
      }
    }
    const id = this.options.newId();
    const search: DiscoverySearch = {
      id, name: request.name?.trim() || `Search ${id}`, actor, query: queryOf(request), mailboxes, copyTo,
      state: 'searching', startedAtMs: this.options.nowMs(), finishedAtMs: null, mailboxesTotal: mailboxes === 'all' ? 0 : mailboxes.length,
      mailboxesSearched: 0, counts: [], messagesFound: 0, messagesCopied: 0, folder: null, error: null,
    };
    this.audit({ type: 'started', id, atMs: search.startedAtMs, name: search.name, actor, query: search.query, mailboxes, copyTo });
    if (copyTo !== null) this.discoveryMailboxes.add(copyTo);
    this.searches.push(search);
    if (this.searches.length > discoveryLimits.searchesListedMax) this.searches.shift();
    const run = this.run(search, named).finally(() => this.running.delete(id));
    this.running.set(id, run);
    return ok(structuredClone(search));
  }

  /** Waits for running searches to finish (server stop). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.running.values()]);
  }

  private async run(search: DiscoverySearch, named: DirectoryUser[] | null): Promise<void> {
    const found: Found[] = [];
    try {
      const users = named ?? (await this.allUsers());
      search.mailboxesTotal = users.length;
      const criterion = criterionOf(search.query);
      for (const user of users) {
        if (this.stopping) throw new Error('the server is stopping');
        const count = await this.searchMailbox(user, search.query, criterion, found);
        search.counts.push(count);
        search.messagesFound += count.messages;
        search.mailboxesSearched += 1;
      }
      if (search.copyTo !== null) {
        search.state = 'copying';
        await this.copy(search, found);
      }
      search.state = 'done';
    } catch (error) {
      search.state = 'failed';
      search.error = (error as Error).message;
    }
    search.finishedAtMs = this.options.nowMs();
    this.options.log(`discovery search ${search.id} (${search.name}) by ${search.actor}: ${search.state}, ${search.messagesFound} messages in ${search.counts.filter((c) => c.messages > 0).length} of ${search.mailboxesSearched} mailboxes${search.copyTo === null ? '' : `, ${search.messagesCopied} copied to ${search.copyTo}`}`);
    this.audit({
      type: 'finished', id: search.id, atMs: search.finishedAtMs, state: search.state, mailboxesSearched: search.mailboxesSearched,
      counts: search.counts.filter((c) => c.messages > 0 || c.error !== undefined), messagesFound: search.messagesFound,
      messagesCopied: search.messagesCopied, folder: search.folder, error: search.error,
    });
  }

  /** Every mailbox but those results were ever copied into, by address. */
  private async allUsers(): Promise<DirectoryUser[]> {
    return (await this.options.directory.listUsers()).filter((u) => !this.discoveryMailboxes.has(u.address)).sort((a, b) => (a.address < b.address ? -1 : 1));
  }

  private async searchMailbox(user: DirectoryUser, query: DiscoveryQuery, criterion: ContentCriterion | null, found: Found[]): Promise<MailboxCount> {
    const api = this.options.apiFor(user.database);
    const base = { address: user.address, database: user.database };
    const folders = await api.folders(user.mailboxId);
    if (!folders.ok) return { ...base, messages: 0, sizeBytes: 0, error: folders.message };
    let messages = 0;
    let sizeBytes = 0;
    for (const folder of folders.value) {
      if (folder.messages === 0) continue;
      const listing = await api.listMessages(user.mailboxId, folder.name);
      if (!listing.ok) return { ...base, messages, sizeBytes, error: listing.message };
      const inRange = listing.value.messages.filter((m) => (query.sinceMs === undefined || m.internalDateMs >= query.sinceMs) && (query.beforeMs === undefined || m.internalDateMs < query.beforeMs));
      if (inRange.length === 0) continue;
      let uids = inRange.map((m) => m.uid);
      if (criterion !== null) {
        const dated = query.sinceMs !== undefined || query.beforeMs !== undefined;
        const hits = await api.search(user.mailboxId, folder.name, criterion, dated ? { uids } : {});
        if (!hits.ok) return { ...base, messages, sizeBytes, error: hits.message };
        uids = hits.value;
      }
      if (uids.length === 0) continue;
      const byUid = new Map(inRange.map((m) => [m.uid, m]));
      messages += uids.length;
      for (const uid of uids) sizeBytes += byUid.get(uid)?.sizeBytes ?? 0;
      found.push({ user, folder: folder.name, uids, infos: new Map(uids.map((uid) => [uid, byUid.get(uid)])) });
    }
    return { ...base, messages, sizeBytes };
  }

  /** Appends every message found to the discovery mailbox: folder "<name>/<source address>". */
  private async copy(search: DiscoverySearch, found: Found[]): Promise<void> {
    if (search.messagesFound > discoveryLimits.messagesCopiedMax) {
      throw new Error(`${search.messagesFound} messages found: at most ${discoveryLimits.messagesCopiedMax} are copied; narrow the search`);
    }
    let target = await this.options.directory.findUser(search.copyTo!);
    if (target === null) {
      const created = await this.options.createMailbox(search.copyTo!);
      if (!created.ok) throw new Error(`creating the discovery mailbox ${search.copyTo}: ${created.message}`);
      target = created.value;
    }
    const api = this.options.apiFor(target.database);
    const folder = search.name.replaceAll(folderSeparator, '-');
    search.folder = folder;
    const existing = await api.folders(target.mailboxId);
    if (!existing.ok) throw new Error(existing.message);
    const names = new Set(existing.value.map((f) => f.name));
    const ensure = async (name: string): Promise<void> => {
      if (names.has(name)) return;
      const created = await begin(api, target.mailboxId).add({ op: 'createFolder', name }).commit();
      if (!created.ok && created.code !== 'FOLDER_EXISTS') throw new Error(`creating folder ${name}: ${created.message}`);
      names.add(name);
    };
    await ensure(folder);
    for (const { user, folder: source, uids, infos } of found) {
      const into = `${folder}${folderSeparator}${user.address}`;
      await ensure(into);
      const sourceApi = this.options.apiFor(user.database);
      let tx = begin(api, target.mailboxId);
      let ops = 0;
      let bytes = 0;
      const flush = async (): Promise<void> => {
        if (ops === 0) return;
        const committed = await tx.commit();
        if (!committed.ok) throw new Error(`copying into ${target.address}: ${committed.message}`);
        search.messagesCopied += ops;
        tx = begin(api, target.mailboxId);
        ops = 0;
        bytes = 0;
      };
      for (const uid of uids) {
        if (this.stopping) throw new Error('the server is stopping');
        const content = await sourceApi.readMessage(user.mailboxId, source, uid);
        if (!content.ok) continue; // expunged since the search: not copied
        if (ops >= discoveryLimits.transactionOpsMax || bytes + content.value.length > discoveryLimits.transactionBytesMax) await flush();
        const info = infos.get(uid);
        tx.add({ op: 'append', folder: into, ...splitMessage(content.value, info?.prefixBytes), flags: [], ...(info === undefined ? {} : { internalDateMs: info.internalDateMs }) });
        ops += 1;
        bytes += content.value.length;
      }
      await flush();
    }
  }
}

function queryOf(request: DiscoveryRequest): DiscoveryQuery {
  return {
    ...(request.text ? { text: request.text } : {}),
    ...(request.from ? { from: request.from } : {}),
    ...(request.to ? { to: request.to } : {}),
    ...(request.sinceMs === undefined ? {} : { sinceMs: request.sinceMs }),
    ...(request.beforeMs === undefined ? {} : { beforeMs: request.beforeMs }),
  };
}

function checkRequest(request: DiscoveryRequest): Result<never> | null {
  for (const key of ['text', 'from', 'to'] as const) {
    const value = request[key];
    if (value !== undefined && (typeof value !== 'string' || value.length > discoveryLimits.queryCharsMax)) return fail('LIMIT', `${key} longer than ${discoveryLimits.queryCharsMax} characters`);
  }
  if (request.mailboxes !== 'all') {
    if (!Array.isArray(request.mailboxes) || request.mailboxes.length === 0) return fail('INVALID_ARGUMENT', 'name the mailboxes to search, or all');
    if (request.mailboxes.length > discoveryLimits.mailboxesMax) return fail('LIMIT', `more than ${discoveryLimits.mailboxesMax} mailboxes; search all instead`);
  }
  if (request.name !== undefined && (request.name.trim().length === 0 || request.name.length > discoveryLimits.nameCharsMax || /[\u0000-\u001f\u007f*%]/.test(request.name))) {
    return fail('INVALID_ARGUMENT', `a search name is 1-${discoveryLimits.nameCharsMax} characters, no control or wildcard characters`);
  }
  for (const key of ['sinceMs', 'beforeMs'] as const) {
    const value = request[key];
    if (value !== undefined && !Number.isSafeInteger(value)) return fail('INVALID_ARGUMENT', `${key} is not a time`);
  }
  if (request.copyTo !== undefined && !/^[^@\s]+@[^@\s]+$/.test(request.copyTo.trim())) return fail('INVALID_ARGUMENT', `bad discovery mailbox address ${request.copyTo}`);
  return null;
}
