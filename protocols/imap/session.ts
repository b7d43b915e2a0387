// One IMAP connection: the state machine of RFC 9051 §3 (not authenticated → authenticated →
// selected → logout) over a Connection. Bytes go through the wire decoder and parser; each
// typed command is checked against its handler's states and run one at a time (the socket is
// paused while input piles up). Changes other sessions make arrive through MailboxApi.watch and
// are told to the client as untagged EXISTS / EXPUNGE / VANISHED / FETCH at the points the RFC
// allows: before a tagged answer, and at once while IDLE.

import type { CommitResult, FolderListing, MailboxApi, MailboxChange, MessageInfo, TxRequest } from '../../engine/api.js';
import { errorInfo, type Failure } from '../../engine/errors.js';
import type { Account, FrontEndContext, SessionLease } from '../frontend.js';
import { allRights } from '../acl.js';
import { capabilities } from './capabilities.js';
import { authFailuresMax, badCommandsInRowMax, cachedMessageBytesMax, commandBytesOverLiteral, contentCacheBytesMax, pendingInputBytesMax } from './constants.js';
import { ContentCache } from './contentcache.js';
import { handlers, type SessionState } from './commands/index.js';
import { SelectedMailbox } from './selected.js';
import { defaultWireLimits, type WireLimits } from './wire/constants.js';
import { ImapDecoder, type DecodeError, type DecoderEvent } from './wire/decoder.js';
import { encodeContinuation, encodeNumbered, encodeStatus, encodeVanished, ResponseWriter, type ResponseCode, type StatusCondition } from './wire/encoder.js';
import { commandKindOf, parseCommand } from './wire/parser.js';
import type { Command } from './wire/types.js';
import { writeFetchFlags } from './format.js';

/** What a session needs of its connection (protocols/connection.ts Connection has all of it). */
export interface SessionIo {
  readonly id: string;
  readonly remoteAddress: string;
  readonly secure: boolean;
  readonly compressed: boolean;
  readonly isClosed: boolean;
  onData(listener: (chunk: Buffer) => void): void;
  onClose(listener: () => void): void;
  onIdle(listener: () => void): void;
  setIdleMs(ms: number): void;
  write(bytes: Uint8Array | string): Promise<void>;
  /** Gathers writes until release(), so a command's answer leaves in one piece. */
  hold(): void;
  release(): Promise<void>;
  pause(): void;
  resume(): void;
  startTls(): Promise<boolean>;
  startCompression(): void;
  close(farewell?: Uint8Array | string): void;
}

/** Extensions a client turned on (ENABLE, or implicitly by using them). */
export interface Enabled {
  condstore: boolean;
  qresync: boolean;
  utf8: boolean;
  rev2: boolean;
}

/** Which untagged updates a command lets the session send before its tagged answer. */
export interface UpdatePolicy {
  /** EXPUNGE / VANISHED: not while answering FETCH, STORE, SEARCH (and the others that use sequence numbers). */
  readonly expunges: boolean;
}

type LineWaiter = (line: Uint8Array) => Promise<void>;

export class ImapSession {
  state: SessionState = 'notAuthenticated';
  readonly enabled: Enabled = { condstore: false, qresync: false, utf8: false, rev2: false };
  account: Account | null = null;
  api: MailboxApi | null = null;
  selected: SelectedMailbox | null = null;
  readonly wireLimits: WireLimits;
  private readonly decoder: ImapDecoder;
  private lease: SessionLease | null = null;
  private unwatch: (() => void) | null = null;
  /** The change feed of the selected shared folder's mailbox (not the user's own). */
  private unwatchShared: (() => void) | null = null;
  private lineWaiter: LineWaiter | null = null;
  private running = false;
  private dirty = false;
  /** The highest mailbox modseq of a change notice that touched the selected folder. */
  private noticedModseq = 0;
  /** A listing of the selected folder that came back with this session's commit (`listAfter`): the next sync uses it. */
  private prefetched: { readonly folderId: number; readonly since: number; readonly listed: NonNullable<CommitResult['listed']> } | null = null;
  /** Set while IDLE runs: the tag to answer on DONE. */
  private idleTag: string | null = null;
  private idleSync: Promise<void> = Promise.resolve();
  private badInRow = 0;
  authFailures = 0;
  private ended = false;
  readonly log: FrontEndContext['log'];

  constructor(
    readonly io: SessionIo,
    readonly context: FrontEndContext,
    /** Immutable message content shared by the front end's sessions (one per front end; a session of its own by default). */
    readonly contentCache: ContentCache = new ContentCache(contentCacheBytesMax, cachedMessageBytesMax),
  ) {
    const literalBytesMax = context.limits.messageBytesMax;
    this.wireLimits = { ...defaultWireLimits, literalBytesMax, commandBytesMax: literalBytesMax + commandBytesOverLiteral };
    this.decoder = new ImapDecoder(this.wireLimits);
    this.log = context.log.child({ connection: io.id, protocol: 'imap' });
    io.onData((chunk) => this.receive(chunk));
    io.onClose(() => this.end());
    io.onIdle(() => io.close('* BYE Autologout; idle for too long\r\n'));
    context.metrics.sessionOpened('imap');
  }

  /** Writes the greeting. */
  start(): void {
    void this.io.write(encodeStatus({ tag: undefined, status: 'OK', code: { code: 'CAPABILITY', capabilities: this.capabilities() }, text: `${this.context.hostname} Quire IMAP4rev2 ready` }));
  }

  capabilities(): string[] {
    return capabilities({
      secure: this.io.secure,
      authenticated: this.state === 'authenticated' || this.state === 'selected',
      compressed: this.io.compressed,
      appendLimitBytes: this.context.limits.messageBytesMax,
    });
  }

  /** Bytes held for input not answered yet (decoder buffers and unread input); the fuzzer bounds it. */
  heldBytes(): number {
    return this.decoder.heldBytes() + this.decoder.pendingBytes();
  }

  get closed(): boolean {
    return this.ended || this.io.isClosed;
  }

  // ───────────────────────────── input ─────────────────────────────

  receive(chunk: Uint8Array): void {
    if (this.ended) return;
    this.decoder.push(chunk);
    if (this.decoder.pendingBytes() > pendingInputBytesMax) this.io.pause();
    void this.pump();
  }

  /** Runs decoder events one at a time until the decoder needs more input. Resolves when idle. */
  pump(): Promise<void> {
    if (this.running) return this.pumping;
    this.running = true;
    this.pumping = (async () => {
      try {
        for (let event = this.decoder.next(); event !== null && !this.closed; event = this.decoder.next()) {
          // One command's untagged and tagged responses go out together.
          this.io.hold();
          try {
            await this.event(event);
          } finally {
            await this.io.release();
          }
        }
      } catch (error) {
        // A handler bug, not bad input: say so, log it, close (never leave a half-answered client).
        this.log.error({ err: String((error as Error).stack ?? error) }, 'imap session failed');
        this.io.close('* BYE [SERVERBUG] Internal error\r\n');
      } finally {
        this.running = false;
        if (!this.closed) this.io.resume();
      }
    })();
    return this.pumping;
  }
  private pumping: Promise<void> = Promise.resolve();

  private async event(event: DecoderEvent): Promise<void> {
    switch (event.kind) {
      case 'line': {
        const waiter = this.lineWaiter;
        this.lineWaiter = null;
        this.decoder.setMode('command');
        if (waiter !== null) await waiter(event.line);
        return;
      }
      case 'continue': {
        const kind = commandKindOf(event.name);
        const handler = kind === undefined ? undefined : handlers[kind];
        if (handler === undefined || !handler.states.includes(this.state) || (kind === 'LOGIN' && !this.io.secure)) {
          // The client waits for `+`: refuse, and the literal will not come.
          this.decoder.refuseLiteral();
          await this.write(encodeStatus({ tag: event.tag, status: 'NO', text: `${event.name} not allowed now` }));
          return;
        }
        await this.write(encodeContinuation('Ready for literal data'));
        return;
      }
      case 'error':
        await this.decodeError(event.error);
        return;
      case 'command':
        await this.command(event.command.tag, event.command.name, () => parseCommand(event.command, { utf8Mailboxes: this.enabled.utf8, limits: this.wireLimits }));
        return;
    }
  }

  private async decodeError(error: DecodeError): Promise<void> {
    if (error.literalSync === true && (error.code === 'literal-too-big' || error.code === 'command-too-big')) {
      await this.write(encodeStatus({ tag: error.tag, status: 'NO', code: { code: 'TOOBIG' }, text: error.text }));
      return;
    }
    await this.bad(error.code === 'bad-tag' ? undefined : error.tag, error.text);
  }

  private async command(tag: string, name: string, parse: () => ReturnType<typeof parseCommand>): Promise<void> {
    const started = Date.now();
    const parsed = parse();
    if (!parsed.ok) {
      await this.bad(tag, parsed.error.text);
      this.context.metrics.command('imap', name, 'bad', Date.now() - started);
      return;
    }
    const command = parsed.command;
    const handler = handlers[command.kind];
    if (handler === undefined) {
      await this.bad(tag, `${command.kind} is not supported`);
      return;
    }
    if (!handler.states.includes(this.state)) {
      await this.bad(tag, `${command.kind} is not valid in the ${stateText[this.state]} state`);
      return;
    }
    this.badInRow = 0;
    this.lastOutcome = 'ok';
    await (handler.handle as (s: ImapSession, tag: string, c: Command) => Promise<void>)(this, tag, command);
    this.context.metrics.command('imap', command.kind, this.lastOutcome, Date.now() - started);
  }
  private lastOutcome: 'ok' | 'no' | 'bad' = 'ok';

  // ───────────────────────────── output ─────────────────────────────

  write(bytes: Uint8Array | string): Promise<void> {
    return this.io.write(bytes);
  }

  writer(): ResponseWriter {
    return new ResponseWriter({ utf8: this.enabled.utf8 });
  }

  /** The tagged answer, after the untagged updates the command allows. */
  async tagged(tag: string, status: StatusCondition, text: string, code?: ResponseCode, policy: UpdatePolicy = { expunges: true }): Promise<void> {
    if (status !== 'BAD' && this.selected !== null) await this.sync(policy);
    if (status === 'NO') this.lastOutcome = 'no';
    await this.write(encodeStatus({ tag, status, text, ...(code === undefined ? {} : { code }) }, { utf8: this.enabled.utf8 }));
  }

  ok(tag: string, text: string, code?: ResponseCode, policy?: UpdatePolicy): Promise<void> {
    return this.tagged(tag, 'OK', text, code, policy);
  }

  no(tag: string, text: string, code?: ResponseCode, policy?: UpdatePolicy): Promise<void> {
    return this.tagged(tag, 'NO', text, code, policy);
  }

  /** A catalogued failure as the tagged answer (`NO [OVERQUOTA] ...`). */
  fail(tag: string, failure: Failure, policy?: UpdatePolicy): Promise<void> {
    const info = errorInfo(failure.code);
    const code = info.imap === null ? undefined : ({ code: info.imap } as ResponseCode);
    return this.tagged(tag, info.imapStatus, failure.message, code, policy);
  }

  async bad(tag: string | undefined, text: string): Promise<void> {
    this.lastOutcome = 'bad';
    this.badInRow++;
    await this.write(encodeStatus({ tag, status: 'BAD', text }));
    if (this.badInRow >= badCommandsInRowMax) this.io.close('* BYE Too many bad commands\r\n');
  }

  untagged(status: StatusCondition, text: string, code?: ResponseCode): Promise<void> {
    return this.write(encodeStatus({ tag: undefined, status, text, ...(code === undefined ? {} : { code }) }, { utf8: this.enabled.utf8 }));
  }

  // ───────────────────────────── line mode (SASL, IDLE) ─────────────────────────────

  /** The next input line goes to `waiter` instead of the command decoder. */
  awaitLine(waiter: LineWaiter): void {
    this.lineWaiter = waiter;
    this.decoder.setMode('line');
  }

  /** STARTTLS: drops plaintext the client pipelined behind the command, then upgrades. */
  async startTls(): Promise<boolean> {
    this.decoder.discardPending();
    return this.io.startTls();
  }

  startIdle(tag: string): void {
    this.idleTag = tag;
    this.awaitLine(async (line) => {
      this.idleTag = null;
      await this.idleSync;
      if (Buffer.from(line).toString('latin1').toUpperCase() !== 'DONE') {
        await this.bad(tag, 'Expected DONE');
        return;
      }
      await this.ok(tag, 'IDLE terminated');
    });
    // Anything already pending is said at once.
    if (this.dirty) this.idleSync = this.idleSync.then(() => this.idleUpdate());
  }

  /** A sync while IDLE runs outside the command loop: a failure ends the session, never the process. */
  private async idleUpdate(): Promise<void> {
    try {
      await this.sync({ expunges: true });
    } catch (error) {
      this.log.error({ err: String((error as Error).stack ?? error) }, 'imap idle update failed');
      this.io.close('* BYE [SERVERBUG] Internal error\r\n');
    }
  }

  // ───────────────────────────── login and selection ─────────────────────────────

  /** After a successful authentication: count the session, watch the mailbox. */
  login(account: Account, lease: SessionLease): void {
    this.account = account;
    this.lease = lease;
    // RFC 9051 7.1.5: BYE may come at any time; RFC 5530 UNAVAILABLE: a temporary failure, so the
    // client reconnects, and its new login reaches the database the mailbox moved to.
    lease.onMoved(() => this.io.close('* BYE [UNAVAILABLE] Mailbox moved to another database; reconnect\r\n'));
    this.api = this.context.mailboxes(account.database);
    this.unwatch = this.api.watch(account.mailboxId, (change) => this.changed(change));
    this.state = 'authenticated';
  }

  /** The mailbox API, mailbox and rights of the selected folder: the user's own, or a shared one. */
  where(): { readonly api: MailboxApi; readonly mailboxId: string; readonly rights: string } {
    return this.selected?.shared ?? { api: this.api!, mailboxId: this.account!.mailboxId, rights: allRights };
  }

  /** Change notices received of the user's own mailbox (SELECT compares it around its listing). */
  ownNotices = 0;

  private changed(change: MailboxChange): void {
    if (change.mailboxId === this.account?.mailboxId) this.ownNotices++;
    const selected = this.selected;
    if (selected === null || change.mailboxId !== this.where().mailboxId) return;
    const touches = change.hierarchyChanged || change.folders.some((f) => f.folderId === selected.folderId);
    if (!touches) return;
    this.noticedModseq = Math.max(this.noticedModseq, change.modseqHighest);
    // Already listed through this modseq (typically the notice of the session's own STORE,
    // APPEND or EXPUNGE, synced when it answered): a listing now would find nothing new.
    if (!change.hierarchyChanged && change.modseqHighest <= selected.modseqHighest) return;
    this.dirty = true;
    if (this.idleTag !== null) this.idleSync = this.idleSync.then(() => this.idleUpdate());
  }

  select(mailbox: SelectedMailbox | null): void {
    this.unwatchShared?.();
    this.unwatchShared = null;
    if (mailbox?.shared != null) this.unwatchShared = mailbox.shared.api.watch(mailbox.shared.mailboxId, (change) => this.changed(change));
    this.selected = mailbox;
    this.dirty = false;
    this.prefetched = null;
    this.state = mailbox === null ? 'authenticated' : 'selected';
  }

  /** Marks the view stale so the next tagged answer fetches what changed (after our own commits). */
  markDirty(): void {
    this.dirty = true;
  }

  /** What a commit that changes the selected folder asks for, so its answer carries the view's update. */
  listAfter(): TxRequest['listAfter'] {
    const selected = this.selected;
    return selected === null ? undefined : { folder: selected.name, changedSince: selected.modseqHighest };
  }

  /** After a commit made with `listAfter()`: the view is stale, and its update came with the answer. */
  committed(result: CommitResult, asked: TxRequest['listAfter']): void {
    this.dirty = true;
    const selected = this.selected;
    if (result.listed === undefined || asked === undefined || selected === null || selected.modseqHighest !== asked.changedSince) return;
    this.prefetched = { folderId: selected.folderId, since: asked.changedSince, listed: result.listed };
  }

  /** The listing since the view's modseq: the one a commit brought back, else asked for now. */
  private async listing(selected: SelectedMailbox, where: { readonly api: MailboxApi; readonly mailboxId: string }): Promise<{ result: Awaited<ReturnType<MailboxApi['listMessages']>>; modseqSeen: number | null }> {
    const pre = this.prefetched;
    this.prefetched = null;
    if (pre !== null && pre.folderId === selected.folderId && pre.since === selected.modseqHighest && pre.listed.listing.folder.name === selected.name) {
      return { result: { ok: true, value: pre.listed.listing as FolderListing }, modseqSeen: pre.listed.mailboxModseqHighest };
    }
    return { result: await where.api.listMessages(where.mailboxId, selected.name, { changedSince: selected.modseqHighest }), modseqSeen: null };
  }

  /**
   * Brings the view up to date and tells the client: new messages (EXISTS), flag changes
   * (FETCH, with MODSEQ once CONDSTORE is on), and, where allowed, expunges (EXPUNGE or, with
   * QRESYNC, VANISHED). `silent` UIDs get no FETCH (STORE .SILENT reported its own).
   */
  async sync(policy: UpdatePolicy, options: { silent?: ReadonlySet<number> } = {}): Promise<void> {
    const selected = this.selected;
    if (selected === null || this.api === null || this.account === null) return;
    if (this.dirty) {
      this.dirty = false;
      const where = this.where();
      const { result: listing, modseqSeen } = await this.listing(selected, where);
      // A change noticed after the commit's listing was made is not in it: list again next time.
      if (modseqSeen !== null && this.noticedModseq > modseqSeen) this.dirty = true;
      if (!listing.ok) {
        if (listing.code === 'NO_SUCH_FOLDER') {
          // Renamed: follow it by its id; deleted: the session cannot go on in it.
          const renamed = await this.findFolderName(selected.folderId);
          if (renamed !== null) {
            selected.name = renamed;
            this.dirty = true;
            return this.sync(policy, options);
          }
          this.io.close('* BYE [NONEXISTENT] The selected mailbox was deleted\r\n');
        }
        return;
      }
      const { folder, messages, vanished } = listing.value;
      if (folder.uidValidity !== selected.uidValidity) {
        this.io.close('* BYE [UIDNOTSTICKY] The selected mailbox was replaced\r\n');
        return;
      }
      for (const uid of vanished) if (selected.seqOf(uid) !== 0) selected.pendingExpunge.add(uid);
      const fetches: MessageInfo[] = [];
      const existsBefore = selected.exists;
      for (const info of [...messages].sort((a, b) => a.uid - b.uid)) {
        const known = selected.infos.get(info.uid);
        if (known === undefined) {
          selected.append(info);
          continue;
        }
        selected.infos.set(info.uid, info);
        if (!sameFlags(known.flags, info.flags) || (this.enabled.condstore && known.modseq !== info.modseq)) fetches.push(info);
      }
      selected.uidNext = Math.max(selected.uidNext, folder.uidNext);
      selected.modseqHighest = Math.max(selected.modseqHighest, folder.modseqHighest);
      if (selected.exists !== existsBefore) await this.write(encodeNumbered(selected.exists, 'EXISTS'));
      for (const info of fetches) {
        if (options.silent?.has(info.uid) === true || selected.pendingExpunge.has(info.uid)) continue;
        const w = this.writer();
        w.raw(`* ${selected.seqOf(info.uid)} FETCH (`);
        writeFetchFlags(w, info, this.enabled.condstore);
        await this.write(w.raw(')').crlf().toBuffer());
      }
    }
    if (policy.expunges && selected.pendingExpunge.size > 0) await this.announceExpunges(selected);
  }

  private async announceExpunges(selected: SelectedMailbox): Promise<void> {
    const uids = [...selected.pendingExpunge];
    const seqs = selected.removeAll(uids);
    if (this.enabled.qresync) {
      await this.write(encodeVanished(uids, false));
      return;
    }
    await this.write(Buffer.concat(seqs.map((seq) => encodeNumbered(seq, 'EXPUNGE'))));
  }

  private async findFolderName(folderId: number): Promise<string | null> {
    if (this.api === null || this.account === null) return null;
    const where = this.where();
    const folders = await where.api.folders(where.mailboxId);
    if (!folders.ok) return null;
    return folders.value.find((f) => f.folderId === folderId)?.name ?? null;
  }

  // ───────────────────────────── end ─────────────────────────────

  logout(): void {
    this.state = 'logout';
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.lineWaiter = null;
    this.unwatch?.();
    this.unwatch = null;
    this.unwatchShared?.();
    this.unwatchShared = null;
    this.lease?.release();
    this.lease = null;
    this.context.metrics.sessionClosed('imap');
  }

  /** Closes after a last untagged line (server shutdown). */
  close(farewell: string): void {
    this.io.close(farewell);
  }
}

const stateText: Record<SessionState, string> = {
  notAuthenticated: 'not authenticated',
  authenticated: 'authenticated',
  selected: 'selected',
  logout: 'logout',
};

function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((f) => set.has(f));
}

/** A failure answer's tagged status, for handlers that need it before writing. */
export function isRetriable(failure: Failure): boolean {
  return errorInfo(failure.code).retriable;
}
