// Test helpers: a literal SMTP/LMTP client that sends exactly the bytes a test gives and
// returns each reply whole (multi-line replies joined), for the checks that real client
// libraries hide (the enhanced code of a refusal, per-recipient LMTP answers, pipelining).

import { spawn } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import type { TestServer } from '../../test/harness.js';

export interface SmtpReply {
  readonly code: number;
  /** Every line of the reply, without CRLF. */
  readonly lines: string[];
  /** The last line (the one with a space after the code). */
  readonly text: string;
}

export class SmtpTalk {
  private buffer = '';
  private waiters: Array<() => void> = [];
  private closed = false;

  private constructor(private socket: net.Socket) {
    this.attach(socket);
  }

  static async connect(port: number, options: { tls?: boolean; ca?: string } = {}): Promise<SmtpTalk> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = options.tls === true
        ? tls.connect({ host: '127.0.0.1', port, ca: options.ca, servername: 'localhost' }, () => resolve(s))
        : net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    return new SmtpTalk(socket);
  }

  private attach(socket: net.Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** The next complete reply; rejects if the server closes first. */
  async reply(): Promise<SmtpReply> {
    for (;;) {
      const lines: string[] = [];
      let at = 0;
      for (;;) {
        const end = this.buffer.indexOf('\r\n', at);
        if (end < 0) break;
        const line = this.buffer.slice(at, end);
        lines.push(line);
        at = end + 2;
        if (/^\d{3}( |$)/.test(line)) {
          this.buffer = this.buffer.slice(at);
          return { code: Number(line.slice(0, 3)), lines, text: line };
        }
      }
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  write(data: string | Uint8Array): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Sends one command line and reads one reply. */
  async command(line: string): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** STARTTLS, then the TLS handshake on the same socket. */
  async startTls(ca: string): Promise<SmtpReply> {
    const answer = await this.command('STARTTLS');
    if (answer.code !== 220) return answer;
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: this.socket, ca, servername: 'localhost' }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = secure;
    this.buffer = '';
    this.attach(secure);
    return answer;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Runs a program (Python's smtplib scripts, CLIs) without blocking the event loop: the server under test runs in this process. */
export function runProgram(command: string, args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Dot-stuffs a message and ends it with CRLF.CRLF (RFC 5321 sec. 4.5.2). */
export function dataBlock(message: string | Uint8Array): Buffer {
  const text = Buffer.from(message).toString('latin1');
  const stuffed = text.replace(/(^|\r\n)\./g, '$1..');
  return Buffer.from(`${stuffed}${stuffed.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'latin1');
}

/** Every INBOX message of a user of a test server, oldest first, as MailboxApi.readMessage returns it. */
export async function inboxOf(server: TestServer, address: string): Promise<Uint8Array[]> {
  const user = await server.server.directory.findUser(address);
  if (user === null) throw new Error(`no user ${address}`);
  const api = server.server.supervisor.api(user.database);
  const listing = await api.listMessages(user.mailboxId, 'INBOX');
  if (!listing.ok) throw new Error(`${listing.code}: ${listing.message}`);
  const out: Uint8Array[] = [];
  for (const m of listing.value.messages) {
    const bytes = await api.readMessage(user.mailboxId, 'INBOX', m.uid);
    if (!bytes.ok) throw new Error(`${bytes.code}: ${bytes.message}`);
    out.push(bytes.value);
  }
  return out;
}
