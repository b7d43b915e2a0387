// A small raw IMAP client for conformance tests: real sockets (plain, STARTTLS, TLS), commands
// written byte for byte, responses read whole (literals included) up to the tagged line.

import net from 'node:net';
import tls from 'node:tls';
import selfsigned from 'selfsigned';
import { createFrontEndContext, frontEndLimitsDefault } from '../../server/frontend.js';
import type { MailboxApi } from '../../engine/api.js';
import type { FrontEnd, FrontEndContext, FrontEndLimits } from '../frontend.js';
import type { TestServer } from '../../test/harness.js';
import { startImap } from './server.js';

export interface Reply {
  /** Untagged and continuation lines, literals inline, CRLF removed. */
  readonly untagged: string[];
  /** The tagged line, e.g. `a1 OK [READ-WRITE] SELECT completed`. */
  readonly tagged: string;
  /** Everything received for the command, as text. */
  readonly raw: string;
}

export class RawImap {
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private closedFlag = false;
  private tagCounter = 0;

  private constructor(private socket: net.Socket | tls.TLSSocket) {
    this.attach(socket);
  }

  static async connect(port: number, options: { tls: boolean; ca?: string }): Promise<RawImap> {
    const socket = options.tls
      ? tls.connect({ host: '127.0.0.1', port, ca: options.ca, servername: 'localhost', rejectUnauthorized: options.ca !== undefined })
      : net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new RawImap(socket);
  }

  private attach(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closedFlag = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** One response line with any literals inline; null when the connection closed first. */
  async line(): Promise<string | null> {
    let text = '';
    for (;;) {
      const lf = this.buffer.indexOf(0x0a);
      if (lf < 0) {
        if (this.closedFlag) return null;
        await this.wait();
        continue;
      }
      const line = this.buffer.subarray(0, lf + 1).toString('latin1');
      this.buffer = this.buffer.subarray(lf + 1);
      const literal = line.match(/~?\{(\d+)\}\r\n$/);
      text += line.replace(/\r\n$/, '');
      if (literal === null) return text;
      const n = Number(literal[1]);
      while (this.buffer.length < n) {
        if (this.closedFlag) return null;
        await this.wait();
      }
      text += '\r\n' + this.buffer.subarray(0, n).toString('latin1');
      this.buffer = this.buffer.subarray(n);
    }
  }

  write(bytes: string | Uint8Array): void {
    this.socket.write(bytes);
  }

  nextTag(): string {
    return `t${++this.tagCounter}`;
  }

  /** Sends `tag command` (CRLF added) and reads to the tagged answer. */
  async command(command: string, tag = this.nextTag()): Promise<Reply> {
    this.write(`${tag} ${command}\r\n`);
    return this.until(tag);
  }

  /** Reads lines until the one tagged `tag`. */
  async until(tag: string): Promise<Reply> {
    const untagged: string[] = [];
    for (;;) {
      const line = await this.line();
      if (line === null) throw new Error(`connection closed before ${tag} was answered; got:\n${untagged.join('\n')}`);
      if (line.startsWith(`${tag} `)) return { untagged, tagged: line, raw: [...untagged, line].join('\n') };
      untagged.push(line);
    }
  }

  /** Upgrades a plain connection after `OK` to STARTTLS. */
  async startTls(ca: string): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secured = tls.connect({ socket: plain, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secured.once('secureConnect', () => resolve());
      secured.once('error', reject);
    });
    this.socket = secured;
    this.buffer = Buffer.alloc(0);
    this.attach(secured);
  }

  close(): void {
    this.socket.destroy();
  }
}

// ───────────────────────────── a second front end with small limits ─────────────────────────────


export interface LimitedImap {
  readonly context: FrontEndContext;
  readonly frontEnd: FrontEnd;
  /** The certificate this front end presents (its own, self-signed). */
  readonly cert: string;
}

/**
 * An IMAP front end over the test server's directory and databases, with its own limits (and
 * no failed-login slow-down unless asked), so tests can reach each limit cheaply.
 */
export function limitedContext(
  server: TestServer,
  limits: Partial<FrontEndLimits>,
  options: { throttle?: boolean; wrapApi?: (api: MailboxApi) => MailboxApi } = {},
): { context: FrontEndContext; cert: string } {
  const pems = selfsigned.generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, days: 1 });
  const wrap = options.wrapApi ?? ((api: MailboxApi): MailboxApi => api);
  const context = createFrontEndContext({
    directory: server.server.directory,
    mailboxes: (database) => wrap(server.server.supervisor.api(database)),
    hostname: 'localhost',
    serverName: 'MBX1',
    tls: { cert: pems.cert, key: pems.private },
    limits: { ...frontEndLimitsDefault, ...limits },
    publicFolders: server.server.publicFolders,
    ...(options.throttle === true ? {} : { throttle: { failuresFree: 1_000_000, delayMsBase: 0, delayMsMax: 0, windowMs: 1, keysMax: 10 } }),
  });
  return { context, cert: pems.cert };
}

export async function startLimitedImap(server: TestServer, limits: Partial<FrontEndLimits>, options: Parameters<typeof limitedContext>[2] = {}): Promise<LimitedImap> {
  const { context, cert } = limitedContext(server, limits, options);
  const frontEnd = await startImap(context, { host: '127.0.0.1', port: () => 0 });
  return { context, frontEnd, cert };
}
