// One POP3 connection (RFC 1939): AUTHORIZATION → TRANSACTION → UPDATE. Reads lines from the
// wire decoder one at a time (commands may be pipelined, RFC 2449 PIPELINING: answers go out
// in order because each command finishes before the next line is read), hands each to its
// command module, and owns what the commands share: the login, the session lease, the maildrop
// lock and snapshot, TLS. Closing without QUIT (idle, drop, shutdown) never deletes anything.

import type { MailboxApi } from '../../engine/api.js';
import { fail, pop3Answer, type Failure } from '../../engine/errors.js';
import type { Account, FrontEndContext, FrontEndLog, Peer, SessionLease } from '../frontend.js';
import { commandModules, type Pop3State } from './commands/index.js';
import { authFailuresMax, commandErrorsMax } from './constants.js';
import { Maildrop, type MaildropLocks } from './maildrop.js';
import { commandBytesMax } from './wire/constants.js';
import { Pop3Decoder, type Pop3DecoderEvent } from './wire/decoder.js';
import { encodeErr, encodeOk, type Pop3ResponseCode } from './wire/encoder.js';
import { parsePop3Command } from './wire/parser.js';

/** What a session needs of its connection; protocols/connection.ts's Connection is one. */
export interface Pop3Io {
  readonly id: string;
  readonly secure: boolean;
  readonly remoteAddress: string;
  readonly isClosed: boolean;
  write(bytes: Uint8Array | string): Promise<void>;
  close(farewell?: Uint8Array | string): void;
  startTls(): Promise<boolean>;
  pause(): void;
  resume(): void;
  onData(listener: (chunk: Buffer) => void): void;
  onClose(listener: () => void): void;
  onIdle(listener: () => void): void;
  /** Sets the idle limit and restarts the idle timer. */
  setIdleMs(ms: number): void;
}

export interface LoggedIn {
  readonly account: Account;
  readonly api: MailboxApi;
  readonly maildrop: Maildrop;
}

export class Pop3Session {
  state: Pop3State = 'authorization';
  /** USER given, waiting for PASS. */
  pendingUser: string | null = null;
  loggedIn: LoggedIn | null = null;
  readonly log: FrontEndLog;
  private readonly decoder = new Pop3Decoder();
  private wake: (() => void) | null = null;
  private lease: SessionLease | null = null;
  private unlock: (() => void) | null = null;
  private authFailures = 0;
  private commandErrors = 0;
  private ended = false;
  /** The mailbox moved to another database: the session ends at the next command (or at once when idle). */
  private moved = false;

  constructor(
    readonly io: Pop3Io,
    readonly context: FrontEndContext,
    private readonly locks: MaildropLocks,
  ) {
    this.log = context.log.child({ protocol: 'pop3', connection: io.id });
    io.onData((chunk) => {
      this.decoder.push(chunk);
      // Back-pressure: read no more until the commands already here are answered.
      io.pause();
      this.wakeUp();
    });
    io.onClose(() => this.wakeUp());
    io.onIdle(() => {
      // RFC 1939 sec. 3: autologout does not enter UPDATE; nothing is deleted.
      this.log.info({ state: this.state }, 'idle timeout');
      io.close(encodeErr('Autologout; idle for too long'));
    });
  }

  get peer(): Peer {
    return { protocol: 'pop3', address: this.io.remoteAddress };
  }

  /** Bytes held for input not yet answered. */
  heldBytes(): number {
    return this.decoder.heldBytes();
  }

  /** Greets, then serves commands until the connection closes. Never throws. */
  async run(): Promise<void> {
    this.context.metrics.sessionOpened('pop3');
    try {
      await this.io.write(encodeOk(`${this.context.hostname} Quire POP3 ready`));
      for (;;) {
        const event = await this.nextEvent();
        if (event === null || this.ended) break;
        await this.serve(event);
        if (this.ended || this.io.isClosed) break;
        // Idle time counts from the last answer: a slow command (a password hash on a busy
        // machine, a large RETR) is not the client's inactivity.
        this.io.setIdleMs(this.context.limits.idleMs);
      }
    } catch (error) {
      this.log.error({ err: (error as Error).message }, 'POP3 session failed');
      this.io.close(encodeErr('Internal error', 'SYS/TEMP'));
    } finally {
      this.releaseMailbox();
      this.context.metrics.sessionClosed('pop3');
    }
  }

  /** The next line (or decoder error); null once the connection is closed. */
  async nextEvent(): Promise<Pop3DecoderEvent | null> {
    for (;;) {
      const event = this.decoder.next();
      if (event !== null) return event;
      if (this.io.isClosed || this.ended) return null;
      const woken = new Promise<void>((resolve) => (this.wake = resolve));
      this.io.resume();
      await woken;
    }
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private async serve(event: Pop3DecoderEvent): Promise<void> {
    if (this.moved) return this.endMoved();
    const startMs = performance.now();
    if (event.kind === 'error') return this.commandError('line', event.text, startMs);
    const parsed = parsePop3Command(event.line);
    if (!parsed.ok) return this.commandError('parse', parsed.text, startMs);
    const command = parsed.command;
    const module = commandModules[command.kind];
    if (!module.states.includes(this.state)) return this.commandError(command.kind, `${command.kind} is not valid in this state`, startMs);
    this.commandErrors = 0;
    const outcome = await module.handle(this, command as never);
    this.context.metrics.command('pop3', command.kind, outcome, performance.now() - startMs);
  }

  private async commandError(name: string, text: string, startMs: number): Promise<void> {
    this.commandErrors++;
    this.context.metrics.command('pop3', name, 'bad', performance.now() - startMs);
    if (this.commandErrors > commandErrorsMax) {
      this.end(encodeErr(`Too many bad commands (${commandErrorsMax}); closing`));
      return;
    }
    await this.err(text);
  }

  ok(text = ''): Promise<void> {
    return this.io.write(encodeOk(text));
  }

  err(text: string, code?: Pop3ResponseCode): Promise<void> {
    return this.io.write(encodeErr(text, code));
  }

  /** The -ERR line of the error catalogue (with [SYS/TEMP], [IN-USE], [AUTH] as it says). */
  failure(failure: Failure): Promise<void> {
    return this.io.write(pop3Answer(failure) + '\r\n');
  }

  write(bytes: Uint8Array | string): Promise<void> {
    return this.io.write(bytes);
  }

  /** Ends the session after `farewell`; the read loop stops. */
  end(farewell: Uint8Array | string): void {
    this.ended = true;
    this.io.close(farewell);
  }

  /** STLS: drops plaintext pipelined behind the command, then upgrades. */
  async startTls(): Promise<boolean> {
    this.decoder.discardPending();
    return this.io.startTls();
  }

  /** One SASL response line (RFC 5034 sec. 4), with the longer SASL line cap; null when closed. */
  async saslLine(bytesMax: number): Promise<Pop3DecoderEvent | null> {
    this.decoder.setLineBytesMax(bytesMax);
    try {
      return await this.nextEvent();
    } finally {
      this.decoder.setLineBytesMax(commandBytesMax);
    }
  }

  /**
   * Checks the password, takes a session lease and the maildrop lock, snapshots the INBOX.
   * Answers the outcome itself; on failure the session stays in AUTHORIZATION (or closes
   * after authFailuresMax failed passwords).
   */
  async login(login: string, password: string): Promise<'ok' | 'no'> {
    const checked = await this.context.authenticate(login, password, this.peer);
    if (!checked.ok) {
      if (checked.code === 'AUTHENTICATION_FAILED') {
        this.authFailures++;
        this.log.info({ login, failures: this.authFailures }, 'POP3 login failed');
        if (this.authFailures >= authFailuresMax) {
          this.end(pop3Answer(checked) + '\r\n');
          return 'no';
        }
      }
      await this.failure(checked);
      return 'no';
    }
    const account = checked.value;
    const lease = this.context.openSession(account, this.peer);
    if (!lease.ok) {
      await this.failure(lease);
      return 'no';
    }
    const unlock = this.locks.acquire(account.mailboxId);
    if (unlock === null) {
      lease.value.release();
      await this.failure(fail('IN_USE', 'Maildrop is locked by another POP3 session'));
      return 'no';
    }
    const api = this.context.mailboxes(account.database);
    const listing = await api.listMessages(account.mailboxId, 'INBOX');
    if (!listing.ok) {
      unlock();
      lease.value.release();
      await this.failure(listing);
      return 'no';
    }
    this.lease = lease.value;
    this.unlock = unlock;
    lease.value.onMoved(() => this.mailboxMoved());
    const maildrop = new Maildrop(listing.value.folder.uidValidity, listing.value.messages);
    this.loggedIn = { account, api, maildrop };
    this.state = 'transaction';
    this.pendingUser = null;
    const { count, sizeBytes } = maildrop.stat();
    this.log.info({ user: account.address, messages: count }, 'POP3 login');
    await this.ok(`Logged in; maildrop has ${count} messages (${sizeBytes} octets)`);
    return 'ok';
  }

  /**
   * The mailbox moved to another database (SessionLease.onMoved): the session ends with
   * -ERR [SYS/TEMP] (RFC 3206: retrying later may succeed) at once when it waits for a command,
   * else as the answer to the next one. Deletions marked in this session are not applied.
   */
  private mailboxMoved(): void {
    this.moved = true;
    if (this.wake !== null) this.endMoved();
  }

  private endMoved(): void {
    this.log.info({ user: this.loggedIn?.account.address }, 'POP3 session ended: mailbox moved');
    this.end(encodeErr('Mailbox moved to another database; log in again', 'SYS/TEMP'));
    this.wakeUp();
  }

  private releaseMailbox(): void {
    this.unlock?.();
    this.unlock = null;
    this.lease?.release();
    this.lease = null;
  }
}
