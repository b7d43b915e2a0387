// Sockets for the line protocols (IMAP, POP3): one listener per port, plain (with STARTTLS /
// STLS upgrade) or TLS from the first byte, with per-port and per-address connection caps, an
// idle timer, and the stream layers a session may add later (TLS, then DEFLATE for IMAP
// COMPRESS). A session sees a Connection: bytes in through `onData`, bytes out through
// `write`, and `startTls()` / `startCompression()` to change the layers under it.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import type { FrontEndLimits } from './frontend.js';

/** Bytes Connection.hold() gathers before writing them anyway (a big answer goes out in pieces of this size). */
export const heldBytesMax = 64 * 1024;

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  /** true: TLS from the first byte (1993, 1995); false: plain, upgraded with startTls(). */
  readonly implicitTls: boolean;
  readonly tls: { readonly cert: string; readonly key: string };
  readonly limits: Pick<FrontEndLimits, 'connectionsPerAddress' | 'connectionsPerPort' | 'idleMs'>;
  /** A new connection; the session owns it from here on. */
  onConnection(connection: Connection): void;
  /**
   * Called instead of onConnection when a cap is reached: write the protocol's refusal (e.g.
   * `* BYE Too many connections`) and the connection is then closed.
   */
  refusal(reason: 'address' | 'port'): Uint8Array;
}

export interface Listener {
  readonly port: number;
  readonly connections: ReadonlySet<Connection>;
  /** Stops accepting; `farewell` is written to every open connection before it is closed. */
  close(farewell?: Uint8Array): Promise<void>;
}

/** Opens a listening port. Resolves once it listens; rejects (EADDRINUSE...) when it cannot. */
export async function listen(options: ListenerOptions): Promise<Listener> {
  const secureContext = tls.createSecureContext({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' });
  const open = new Set<Connection>();
  const perAddress = new Map<string, number>();

  const accept = (socket: net.Socket, secure: boolean): void => {
    const address = normalizeAddress(socket.remoteAddress ?? '');
    const count = perAddress.get(address) ?? 0;
    const refused = open.size >= options.limits.connectionsPerPort ? 'port' : count >= options.limits.connectionsPerAddress ? 'address' : null;
    if (refused !== null) {
      socket.on('error', () => undefined);
      socket.end(options.refusal(refused));
      return;
    }
    perAddress.set(address, count + 1);
    const connection = new Connection(socket, secure, secureContext, address, options.limits.idleMs);
    open.add(connection);
    connection.onClose(() => {
      open.delete(connection);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
    options.onConnection(connection);
  };

  const server = options.implicitTls
    ? tls.createServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' }, (socket) => accept(socket, true))
    : net.createServer((socket) => accept(socket, false));
  // A handshake that fails never becomes a connection; nothing to answer.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const boundPort = (server.address() as net.AddressInfo).port;

  return {
    port: boundPort,
    connections: open,
    async close(farewell) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of [...open]) connection.close(farewell);
      await closed;
    },
  };
}

/**
 * Opens a service's plain port (STARTTLS) and its TLS port together: both listen, or neither
 * does (the first is closed again if the second cannot listen).
 */
export async function listenPair(options: Omit<ListenerOptions, 'port' | 'implicitTls'>, plainPort: number, tlsPort: number): Promise<[plain: Listener, secure: Listener]> {
  const plain = await listen({ ...options, port: plainPort, implicitTls: false });
  try {
    return [plain, await listen({ ...options, port: tlsPort, implicitTls: true })];
  } catch (error) {
    await plain.close();
    throw error;
  }
}

function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

type DataListener = (chunk: Buffer) => void;

/**
 * One client connection. Reading is push-style (`onData`); `pause()`/`resume()` give
 * back-pressure while a command is being executed. Writes are queued in order across layer
 * changes: bytes written before startTls() go out in the clear, bytes after it encrypted.
 */
export class Connection {
  /** Short random id for logs. */
  readonly id = randomBytes(6).toString('base64url');
  private stream: net.Socket | tls.TLSSocket;
  private secureFlag: boolean;
  private dataListener: DataListener = () => undefined;
  private readonly closeListeners: Array<() => void> = [];
  private closed = false;
  private closing = false;
  private idleListener: (() => void) | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleTimerMs = 0;
  private deflate: zlib.DeflateRaw | null = null;
  private inflate: zlib.InflateRaw | null = null;
  private paused = false;
  /** Writes gathered between hold() and release(); null when not holding. */
  private held: Uint8Array[] | null = null;
  private heldBytes = 0;

  constructor(
    socket: net.Socket,
    secure: boolean,
    private readonly secureContext: tls.SecureContext,
    readonly remoteAddress: string,
    private idleMs: number,
  ) {
    this.stream = socket;
    this.secureFlag = secure;
    socket.setNoDelay(true);
    this.attach(socket);
    this.touch();
  }

  get secure(): boolean {
    return this.secureFlag;
  }

  get compressed(): boolean {
    return this.deflate !== null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The session's reader; replaces the previous one. */
  onData(listener: DataListener): void {
    this.dataListener = listener;
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** Called when the idle limit passes (e.g. to write `* BYE Autologout`); default: drop the connection. */
  onIdle(listener: () => void): void {
    this.idleListener = listener;
  }

  /** Sets the idle limit (IMAP raises it during IDLE) and restarts the timer. */
  setIdleMs(ms: number): void {
    this.idleMs = ms;
    this.touch();
  }

  /** Writes bytes; resolves when the OS took them (back-pressure), never rejects. */
  write(bytes: Uint8Array | string): Promise<void> {
    if (this.closed || this.closing) return Promise.resolve();
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    if (this.held !== null) {
      this.held.push(data);
      this.heldBytes += data.length;
      return this.heldBytes >= heldBytesMax ? this.writeHeld() : Promise.resolve();
    }
    return this.writeNow(data);
  }

  /**
   * Gathers writes until release() (at most heldBytesMax at a time), so that one command's
   * answer leaves in one write: one TLS record, one system call, one wake-up of the client,
   * instead of one per response line.
   */
  hold(): void {
    this.held ??= [];
  }

  /** Writes what hold() gathered and stops gathering; resolves as write() does. */
  release(): Promise<void> {
    const written = this.writeHeld();
    this.held = null;
    return written;
  }

  private writeHeld(): Promise<void> {
    const held = this.held;
    if (held === null || held.length === 0 || this.closed) return Promise.resolve();
    this.held = [];
    this.heldBytes = 0;
    return this.writeNow(held.length === 1 ? held[0]! : Buffer.concat(held));
  }

  private writeNow(data: Uint8Array): Promise<void> {
    if (this.deflate !== null) {
      const deflate = this.deflate;
      return new Promise((resolve) => {
        deflate.write(data);
        deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
      });
    }
    return this.rawWrite(data);
  }

  pause(): void {
    this.paused = true;
    this.stream.pause();
  }

  resume(): void {
    this.paused = false;
    if (!this.closed) this.stream.resume();
  }

  /**
   * Upgrades to TLS (STARTTLS, STLS). Call after writing the OK answer. Plaintext bytes the
   * client sent after the command are dropped (RFC 3207 sec. 4.2, RFC 9051 sec. 6.2.1 forbid
   * using them). Resolves true once the handshake is done, false when it failed (closed).
   */
  async startTls(): Promise<boolean> {
    if (this.secureFlag || this.closed) return false;
    void this.writeHeld(); // what was said before the upgrade goes out in the clear
    const plain = this.stream as net.Socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('end');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    const secured = new tls.TLSSocket(plain, { isServer: true, secureContext: this.secureContext });
    this.stream = secured;
    this.secureFlag = true;
    this.attach(secured);
    return new Promise((resolve) => {
      secured.once('secure', () => resolve(true));
      secured.once('close', () => resolve(false));
    });
  }

  /** Starts RFC 4978 DEFLATE in both directions. Call after writing the OK answer. */
  startCompression(): void {
    if (this.deflate !== null || this.closed) return;
    void this.writeHeld(); // the answer before compression goes out uncompressed
    this.deflate = zlib.createDeflateRaw({ level: zlib.constants.Z_DEFAULT_COMPRESSION });
    this.inflate = zlib.createInflateRaw();
    this.deflate.on('data', (chunk: Buffer) => void this.rawWrite(chunk));
    this.deflate.on('error', () => this.close());
    this.inflate.on('data', (chunk: Buffer) => this.dataListener(chunk));
    this.inflate.on('error', () => this.close());
  }

  /** Ends the connection after writing `farewell` (if any) and the queued bytes. */
  close(farewell?: Uint8Array | string): void {
    if (this.closed || this.closing) return;
    if (farewell !== undefined) void this.write(farewell);
    void this.writeHeld();
    this.held = null;
    this.closing = true;
    const stream = this.stream;
    const finish = (): void => {
      stream.end();
      setTimeout(() => stream.destroy(), 2_000).unref();
      this.markClosed();
    };
    if (this.deflate !== null) this.deflate.flush(zlib.constants.Z_SYNC_FLUSH, finish);
    else finish();
  }

  private rawWrite(data: Uint8Array): Promise<void> {
    if (this.stream.destroyed) return Promise.resolve();
    const stream = this.stream;
    if (stream.write(data)) return Promise.resolve();
    return new Promise((resolve) => {
      // A destroyed stream never drains. Both listeners go once either fires, so a long session
      // does not pile up one listener per write.
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        resolve();
      };
      stream.once('drain', done);
      stream.once('close', done);
    });
  }

  private attach(stream: net.Socket | tls.TLSSocket): void {
    stream.on('data', (chunk: Buffer) => {
      this.touch();
      if (this.inflate !== null) this.inflate.write(chunk);
      else this.dataListener(chunk);
    });
    stream.on('error', () => this.markClosed());
    stream.on('end', () => {
      stream.end();
      this.markClosed();
    });
    stream.on('close', () => this.markClosed());
    if (this.paused) stream.pause();
  }

  private touch(): void {
    if (this.closed) return;
    // The same idle limit: restart the timer in place (one per chunk read would cost a new timer each).
    if (this.idleTimer !== null && this.idleTimerMs === this.idleMs) {
      this.idleTimer.refresh();
      return;
    }
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimerMs = this.idleMs;
    this.idleTimer = setTimeout(() => {
      if (this.idleListener !== null) this.idleListener();
      else this.stream.destroy();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.deflate?.destroy();
    this.inflate?.destroy();
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
