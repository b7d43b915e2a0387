// Test helpers for the POP3 front end: a raw-socket client that reads answers line by line
// (with STLS), a server's mailbox filled through the mailbox API, and, for the session fuzzer
// only, an in-memory connection, context and INBOX behind the same interfaces as the real ones.

import net from 'node:net';
import tls from 'node:tls';
import { toMessageColumns, type CommitResult, type FolderListing, type MailboxApi, type MessageInfo } from '../../engine/api.js';
import { fail, ok, type Result } from '../../engine/errors.js';
import type { Account, FrontEndContext, FrontEndLimits } from '../frontend.js';
import type { Pop3Io } from './session.js';

/** A POP3 client over a real socket that hands out one answer line at a time. */
export class Pop3TestClient {
  private buffer = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  private ended = false;

  private constructor(private socket: net.Socket | tls.TLSSocket) {
    this.attach(socket);
  }

  static async connect(port: number, options: { tls?: boolean; cert?: string } = {}): Promise<Pop3TestClient> {
    const socket = options.tls === true ? tls.connect({ host: '127.0.0.1', port, ...trust(options.cert) }) : net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls === true ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new Pop3TestClient(socket);
  }

  get isClosed(): boolean {
    return this.ended && this.buffer.length === 0;
  }

  write(bytes: string | Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Sends one command line (CRLF added). */
  send(line: string): void {
    this.socket.write(line + '\r\n');
  }

  /** The next line without its CRLF; null once the server closed and nothing is left. */
  async line(): Promise<string | null> {
    for (;;) {
      const lf = this.buffer.indexOf(0x0a);
      if (lf >= 0) {
        const line = this.buffer.subarray(0, lf).toString('latin1').replace(/\r$/, '');
        this.buffer = this.buffer.subarray(lf + 1);
        return line;
      }
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  /** Sends a command and returns its status line. */
  async command(line: string): Promise<string> {
    this.send(line);
    return this.expectLine();
  }

  async expectLine(): Promise<string> {
    const line = await this.line();
    if (line === null) throw new Error('connection closed');
    return line;
  }

  /** The lines of a multi-line body up to its "." with dot-stuffing undone. */
  async body(): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.expectLine();
      if (line === '.') return lines;
      lines.push(line.startsWith('.') ? line.slice(1) : line);
    }
  }

  /** Sends a multi-line command: [status line, body lines] (no body after -ERR). */
  async multiline(line: string): Promise<[string, string[]]> {
    const status = await this.command(line);
    return [status, status.startsWith('+OK') ? await this.body() : []];
  }

  /** STLS and the TLS handshake; the status line of STLS. */
  async stls(cert?: string): Promise<string> {
    const status = await this.command('STLS');
    if (!status.startsWith('+OK')) return status;
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('end');
    plain.removeAllListeners('close');
    const secured = tls.connect({ socket: plain, ...trust(cert) });
    await new Promise<void>((resolve, reject) => {
      secured.once('secureConnect', () => resolve());
      secured.once('error', reject);
    });
    this.socket = secured;
    this.attach(secured);
    return status;
  }

  /** Resolves once the server closed the connection (the lines before it stay readable). */
  async closed(): Promise<void> {
    while (!this.ended) await new Promise<void>((resolve) => (this.waiting = resolve));
  }

  close(): void {
    this.socket.destroy();
  }

  private attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.notify();
    });
    const end = (): void => {
      this.ended = true;
      this.notify();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  private notify(): void {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.();
  }
}

function trust(cert: string | undefined): tls.ConnectionOptions {
  // The test server's certificate is self-signed for its own name; trust exactly it.
  return cert === undefined ? { rejectUnauthorized: false } : { ca: cert, checkServerIdentity: () => undefined };
}

/** The raw-socket lines of a message built from header and body lines. */
export function message(subject: string, bodyLines: readonly string[]): Uint8Array {
  return Buffer.from([`From: sender@example.net`, `To: demo@example.org`, `Subject: ${subject}`, `Message-ID: <${subject.replace(/\W/g, '')}@example.net>`, '', ...bodyLines, ''].join('\r\n'));
}

/** Appends messages to a mailbox's INBOX in one commit; their UIDs. */
export async function appendToInbox(api: MailboxApi, mailboxId: string, messages: readonly Uint8Array[]): Promise<number[]> {
  const committed = await api.commit({ mailboxId, ops: messages.map((content) => ({ op: 'append', folder: 'INBOX', content })) });
  if (!committed.ok) throw new Error(`append: ${committed.message}`);
  return committed.value.results.map((r) => (r.op === 'append' ? r.uid : 0));
}

// ---- In-memory stand-ins, for the session fuzzer only ------------------------------------

/** A connection with no socket: what the session writes is collected as text. */
export class MemoryIo implements Pop3Io {
  readonly id = 'memory';
  readonly remoteAddress = '192.0.2.1';
  output = '';
  private closedFlag = false;
  private dataListener: (chunk: Buffer) => void = () => undefined;
  private readonly closeListeners: Array<() => void> = [];
  private waitingForInput: (() => void) | null = null;

  constructor(readonly secure: boolean) {}

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Gives the session bytes; resolves once it waits for more input or has closed. */
  async feed(chunk: Uint8Array): Promise<void> {
    if (this.closedFlag) return;
    const waited = new Promise<void>((resolve) => (this.waitingForInput = resolve));
    this.dataListener(Buffer.from(chunk));
    await waited;
  }

  async write(bytes: Uint8Array | string): Promise<void> {
    if (!this.closedFlag) this.output += typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('latin1');
  }

  close(farewell?: Uint8Array | string): void {
    if (this.closedFlag) return;
    if (farewell !== undefined) void this.write(farewell);
    this.closedFlag = true;
    for (const listener of this.closeListeners.splice(0)) listener();
    this.inputWanted();
  }

  async startTls(): Promise<boolean> {
    this.close();
    return false;
  }

  pause(): void {}

  resume(): void {
    this.inputWanted();
  }

  onData(listener: (chunk: Buffer) => void): void {
    this.dataListener = listener;
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  onIdle(): void {}

  setIdleMs(): void {}

  private inputWanted(): void {
    const waiting = this.waitingForInput;
    this.waitingForInput = null;
    waiting?.();
  }
}

/**
 * A mailbox API holding one INBOX in memory: just what POP3 uses (listMessages, readMessage,
 * commit of expunges); everything else answers INVALID_ARGUMENT.
 */
export function memoryInbox(mailboxId: string, contents: readonly Uint8Array[]): MailboxApi {
  const uidValidity = 7;
  let messages = contents.map((content, i) => ({ uid: i + 1, content }));
  const info = (m: { uid: number; content: Uint8Array }): MessageInfo => ({ uid: m.uid, modseq: 1, flags: [], sizeBytes: m.content.length, internalDateMs: 0, emailId: `e${m.uid}`, threadId: `t${m.uid}` });
  const unsupported = async (): Promise<Result<never>> => fail('INVALID_ARGUMENT', 'not in the in-memory inbox');
  const listMessages = async (id: string, folder: string): Promise<Result<FolderListing>> => {
    if (id !== mailboxId || folder !== 'INBOX') return fail('NO_SUCH_FOLDER', folder);
    const folderInfo = { folderId: 1, name: 'INBOX', uidValidity, uidNext: messages.length + 1, modseqHighest: 1, messages: messages.length, unseen: 0, sizeBytes: 0, specialUse: null, subscribed: true };
    return ok({ folder: folderInfo, messages: messages.map(info), vanished: [] });
  };
  return {
    async commit(request): Promise<Result<CommitResult>> {
      const expunged = new Set<number>();
      for (const op of request.ops) {
        if (op.op !== 'expunge' || op.folder !== 'INBOX') return fail('INVALID_ARGUMENT', 'only INBOX expunges');
        for (const uid of op.uids) expunged.add(uid);
      }
      messages = messages.filter((m) => !expunged.has(m.uid));
      return ok({ results: [{ op: 'expunge', uids: [...expunged] }], modseqHighest: 2, position: 0 });
    },
    commitMany(requests) {
      return Promise.all(requests.map((request) => this.commit(request)));
    },
    mailbox: unsupported,
    folders: unsupported,
    sharedFolders: unsupported,
    listMessages,
    async listMessageColumns(id, folder) {
      const listed = await listMessages(id, folder);
      return listed.ok ? ok({ ...listed.value, messages: toMessageColumns(listed.value.messages) }) : listed;
    },
    async readMessage(id, folder, uid) {
      const found = messages.find((m) => m.uid === uid);
      return id === mailboxId && folder === 'INBOX' && found !== undefined ? ok(found.content) : fail('NO_SUCH_MESSAGE', `uid ${uid}`);
    },
    summaries: unsupported,
    readPart: unsupported,
    bodyValues: unsupported,
    search: unsupported,
    documents: unsupported,
    watch: () => () => undefined,
  };
}

/** A context with one user and one in-memory INBOX; logins are checked without a directory. */
export function memoryContext(user: { address: string; password: string }, api: MailboxApi, limits: Partial<FrontEndLimits> = {}): FrontEndContext {
  const account: Account = { address: user.address, mailboxId: 'mbx-1', database: 'DB01', displayName: 'Demo', quotaBytes: null, aliases: [] };
  const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };
  return {
    hostname: 'localhost',
    serverName: 'MBX1',
    tls: { cert: '', key: '' },
    limits: { sessionsPerUser: 10, connectionsPerAddress: 10, connectionsPerPort: 10, idleMs: 60_000, messageBytesMax: 1 << 20, ...limits },
    log: silent,
    metrics: { sessionOpened: () => undefined, sessionClosed: () => undefined, command: () => undefined, authFailure: () => undefined, delivery: () => undefined },
    async authenticate(login, password) {
      return login.toLowerCase() === user.address && password === user.password ? ok(account) : fail('AUTHENTICATION_FAILED', 'Authentication failed');
    },
    async findAccount(address) {
      return ok(address.toLowerCase() === user.address ? account : null);
    },
    async resolveRecipient(address) {
      return address.toLowerCase() === user.address ? ok([account]) : fail('NO_SUCH_USER', address);
    },
    async isAcceptedDomain() {
      return ok(true);
    },
    mailboxes: () => api,
    openSession: () => ok({ release: () => undefined, onMoved: () => undefined }),
    onMailboxMoved: () => () => undefined,
  };
}
