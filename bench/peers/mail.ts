// The mail-client side of the protocol benchmarks: small raw IMAP and POP3 clients over TLS
// (what both servers are driven with, byte for byte the same commands), the seeded test
// mailbox, and a closed-loop session driver that records every command's latency. Kept
// deliberately thin so the client costs little of the two shared cores and the same for both
// servers. Every command's answer is checked (OK / +OK), so a server that fails fails the run.

import net from 'node:net';
import tls from 'node:tls';
import { assert } from '../../engine/assert.js';
import { percentileSorted } from '../lib/stats.js';
import type { Reading } from '../lib/suite.js';
import { prng } from '../../protocols/fuzz.js';

/** Buffered reader over a socket (TLS or plain): whole lines, or a given number of bytes. */
class TlsLines {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiting: (() => void) | null = null;
  private ended: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.wake();
    });
    const end = (error?: Error) => {
      this.ended ??= error ?? new Error('connection closed by the server');
      this.wake();
    };
    socket.on('error', end);
    socket.on('close', () => end());
  }

  /** `localAddress`: a loopback source (127.0.0.x) so many sessions do not all count against one address's cap. */
  static connect(port: number, ca: string, localAddress?: string): Promise<TlsLines> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca, checkServerIdentity: () => undefined, ...(localAddress === undefined ? {} : { localAddress }) });
      socket.once('secureConnect', () => resolve(new TlsLines(socket)));
      socket.once('error', reject);
    });
  }

  /** A plain TCP connection (LMTP, which both servers speak without TLS on loopback). */
  static connectPlain(port: number, localAddress?: string): Promise<TlsLines> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, ...(localAddress === undefined ? {} : { localAddress }) });
      socket.once('connect', () => resolve(new TlsLines(socket)));
      socket.once('error', reject);
    });
  }

  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** One line without its CRLF. */
  async line(): Promise<string> {
    for (;;) {
      const joined = this.joined();
      const lf = joined.indexOf(0x0a);
      if (lf >= 0) return this.take(lf + 1).toString('latin1').replace(/\r?\n$/, '');
      await this.more();
    }
  }

  async bytes(count: number): Promise<void> {
    while (this.buffered < count) await this.more();
    this.take(count);
  }

  close(): void {
    this.socket.destroy();
  }

  private joined(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private take(count: number): Buffer {
    const joined = this.joined();
    const out = joined.subarray(0, count);
    const rest = joined.subarray(count);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  private async more(): Promise<void> {
    if (this.ended !== null) throw this.ended;
    await new Promise<void>((resolve) => (this.waiting = resolve));
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.();
  }
}

/** A minimal IMAP client: tagged commands, literals in answers skipped, EXISTS tracked. */
export class ImapClient {
  private tagNumber = 0;
  /** Messages in the selected mailbox as the server last said (EXISTS minus EXPUNGE). */
  exists = 0;
  uidNext = 0;

  private constructor(private readonly io: TlsLines) {}

  static async connect(port: number, ca: string, localAddress?: string): Promise<ImapClient> {
    const client = new ImapClient(await TlsLines.connect(port, ca, localAddress));
    const greeting = await client.io.line();
    assert(greeting.startsWith('* OK'), `IMAP greeting: ${greeting}`);
    return client;
  }

  /** Sends a command and reads to its tagged answer, which must be OK. Untagged lines returned. */
  async command(text: string, literal?: Uint8Array): Promise<string[]> {
    const tag = `b${++this.tagNumber}`;
    if (literal === undefined) this.io.write(`${tag} ${text}\r\n`);
    else this.io.write(Buffer.concat([Buffer.from(`${tag} ${text} {${literal.length}+}\r\n`), literal, Buffer.from('\r\n')]));
    const untagged: string[] = [];
    for (;;) {
      const line = await this.logicalLine();
      if (line.startsWith(`${tag} `)) {
        if (!line.startsWith(`${tag} OK`)) throw new Error(`IMAP ${text.slice(0, 60)}: ${line}`);
        return untagged;
      }
      this.track(line);
      untagged.push(line);
    }
  }

  async login(user: string, password: string): Promise<void> {
    await this.command(`LOGIN ${quote(user)} ${quote(password)}`);
  }

  async select(mailbox: string): Promise<void> {
    this.exists = 0;
    const lines = await this.command(`SELECT ${mailbox}`);
    for (const line of lines) {
      const next = /\[UIDNEXT (\d+)\]/.exec(line);
      if (next !== null) this.uidNext = Number(next[1]);
    }
  }

  /** IDLE, then DONE as soon as the server says it is idling. */
  async idle(): Promise<void> {
    const tag = `b${++this.tagNumber}`;
    this.io.write(`${tag} IDLE\r\n`);
    for (;;) {
      const line = await this.logicalLine();
      if (line.startsWith('+')) break;
      if (line.startsWith(`${tag} `)) throw new Error(`IMAP IDLE: ${line}`);
      this.track(line);
    }
    this.io.write('DONE\r\n');
    for (;;) {
      const line = await this.logicalLine();
      if (line.startsWith(`${tag} `)) {
        if (!line.startsWith(`${tag} OK`)) throw new Error(`IMAP IDLE: ${line}`);
        return;
      }
      this.track(line);
    }
  }

  /**
   * One IDLE: waits until the server reports new messages (EXISTS grows) or `waitMsMax` passes,
   * then DONE. true when new mail came.
   */
  async idleUntilNews(waitMsMax: number): Promise<boolean> {
    const tag = `b${++this.tagNumber}`;
    this.io.write(`${tag} IDLE\r\n`);
    for (;;) {
      const line = await this.logicalLine();
      if (line.startsWith('+')) break;
      if (line.startsWith(`${tag} `)) throw new Error(`IMAP IDLE: ${line}`);
      this.track(line);
    }
    let done = false;
    let news = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.io.write('DONE\r\n');
    };
    const timer = setTimeout(finish, waitMsMax);
    try {
      for (;;) {
        const line = await this.logicalLine();
        if (line.startsWith(`${tag} `)) {
          if (!line.startsWith(`${tag} OK`)) throw new Error(`IMAP IDLE: ${line}`);
          return news;
        }
        const before = this.exists;
        this.track(line);
        if (this.exists > before) {
          news = true;
          finish();
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async logout(): Promise<void> {
    try {
      await this.command('LOGOUT');
    } catch {
      // Some servers close right after BYE; the session is over either way.
    }
    this.io.close();
  }

  close(): void {
    this.io.close();
  }

  /** A response line with any literals it carries skipped (their bytes are read, not kept). */
  private async logicalLine(): Promise<string> {
    let line = await this.io.line();
    for (;;) {
      const literal = /\{(\d+)\}$/.exec(line);
      if (literal === null) return line;
      await this.io.bytes(Number(literal[1]));
      line = line.slice(0, literal.index) + '""' + (await this.io.line());
    }
  }

  private track(line: string): void {
    const counted = /^\* (\d+) (EXISTS|EXPUNGE)/.exec(line);
    if (counted === null) return;
    if (counted[2] === 'EXISTS') this.exists = Number(counted[1]);
    else this.exists -= 1;
  }
}

function quote(text: string): string {
  return `"${text.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** A minimal POP3 client: status lines and multi-line answers (bytes counted, not kept). */
export class Pop3Client {
  private constructor(private readonly io: TlsLines) {}

  static async connect(port: number, ca: string, localAddress?: string): Promise<Pop3Client> {
    const client = new Pop3Client(await TlsLines.connect(port, ca, localAddress));
    const greeting = await client.io.line();
    assert(greeting.startsWith('+OK'), `POP3 greeting: ${greeting}`);
    return client;
  }

  /** Sends a command; its +OK line (anything else throws). */
  async command(text: string): Promise<string> {
    this.io.write(`${text}\r\n`);
    const line = await this.io.line();
    if (!line.startsWith('+OK')) throw new Error(`POP3 ${text.split(' ')[0]}: ${line}`);
    return line;
  }

  /** A multi-line command; the lines of its body (dot-stuffing undone). */
  async multiline(text: string): Promise<string[]> {
    await this.command(text);
    const lines: string[] = [];
    for (;;) {
      const line = await this.io.line();
      if (line === '.') return lines;
      lines.push(line.startsWith('.') ? line.slice(1) : line);
    }
  }

  async login(user: string, password: string): Promise<void> {
    await this.command(`USER ${user}`);
    await this.command(`PASS ${password}`);
  }

  close(): void {
    this.io.close();
  }
}

/** A minimal LMTP client (RFC 2033): one transaction at a time, a 250 required per recipient. */
export class LmtpClient {
  private constructor(private readonly io: TlsLines) {}

  static async connect(port: number, localAddress?: string): Promise<LmtpClient> {
    const client = new LmtpClient(await TlsLines.connectPlain(port, localAddress));
    await client.reply('greeting', '220');
    client.io.write('LHLO bench.example.net\r\n');
    await client.reply('LHLO', '250');
    return client;
  }

  /** Delivers one message to `recipients`; resolves once every recipient got its 250 (durable). */
  async deliver(from: string, recipients: readonly string[], message: Uint8Array): Promise<void> {
    this.io.write(`MAIL FROM:<${from}>\r\n`);
    await this.reply('MAIL', '250');
    for (const rcpt of recipients) {
      this.io.write(`RCPT TO:<${rcpt}>\r\n`);
      await this.reply('RCPT', '250');
    }
    this.io.write('DATA\r\n');
    await this.reply('DATA', '354');
    this.io.write(Buffer.concat([dotStuffed(message), Buffer.from('.\r\n')]));
    for (let i = 0; i < recipients.length; i++) await this.reply('delivery', '250');
  }

  async quit(): Promise<void> {
    this.io.write('QUIT\r\n');
    try {
      await this.reply('QUIT', '221');
    } catch {
      // Closed right after 221 or before it: the session is over either way.
    }
    this.io.close();
  }

  /** Reads a (multi-line) reply; throws unless its code is `code`. */
  private async reply(step: string, code: string): Promise<void> {
    for (;;) {
      const line = await this.io.line();
      if (line.charAt(3) === '-') continue;
      if (!line.startsWith(code)) throw new Error(`LMTP ${step}: ${line}`);
      return;
    }
  }
}

/** Message bytes with lines that start with "." doubled, ending in CRLF (RFC 5321 sec. 4.5.2). */
function dotStuffed(message: Uint8Array): Buffer {
  let text = Buffer.from(message).toString('latin1');
  if (!text.endsWith('\r\n')) text += '\r\n';
  return Buffer.from(text.replace(/(^|\r\n)\./g, '$1..'), 'latin1');
}

/** mulberry32 (the fuzz harness's), so both servers get the same command sequence from the same seed. */
export const seededRandom = prng;

export const topics = ['invoice', 'meeting', 'release', 'holiday', 'report', 'lunch', 'backup', 'review'];

/**
 * The i-th message of the seeded mailbox: a plain text message of 1 to 12 KiB with a topic
 * in its subject (for SEARCH SUBJECT), the same bytes for every server and every run.
 */
export function seededMessage(seed: number, index: number): Uint8Array {
  const random = seededRandom(seed * 7919 + index);
  const topic = topics[Math.floor(random() * topics.length)]!;
  const lines = 16 + Math.floor(random() * 180);
  const body: string[] = [];
  for (let i = 0; i < lines; i++) body.push(`${topic} line ${i} ${Math.floor(random() * 1e9).toString(36)} lorem ipsum dolor sit amet consectetur`);
  const date = new Date(Date.UTC(2026, 0, 1) + index * 3_600_000).toUTCString().replace('GMT', '+0000');
  return Buffer.from(
    [
      `From: Sender ${index % 17} <sender${index % 17}@example.net>`,
      'To: Bench User <bench@example.org>',
      `Subject: ${topic} number ${index}`,
      `Date: ${date}`,
      `Message-ID: <bench-${seed}-${index}@example.net>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      ...body,
      '',
    ].join('\r\n'),
  );
}

/** A loopback source address for session i (127.0.0.2 ...), so per-address caps see many clients. */
export function loopbackSource(i: number): string {
  return `127.0.${Math.floor(i / 250)}.${2 + (i % 250)}`;
}

/**
 * Appends seeded messages to every user's INBOX over IMAP: `messages` each, or messages(i) for
 * user i; at most 32 users at a time.
 */
export async function seedInboxes(port: number, ca: string, users: readonly { name: string; password: string }[], messages: number | ((user: number) => number), seed: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < users.length; i = next++) {
      const count = typeof messages === 'number' ? messages : messages(i);
      if (count === 0) continue;
      const client = await ImapClient.connect(port, ca, loopbackSource(i));
      await client.login(users[i]!.name, users[i]!.password);
      for (let m = 0; m < count; m++) await client.command('APPEND INBOX', seededMessage(seed, m));
      await client.logout();
    }
  };
  await Promise.all(Array.from({ length: Math.min(32, users.length) }, worker));
}

/** Latencies of one run, by command kind. */
export class LatencyLog {
  readonly byKind = new Map<string, number[]>();
  commands = 0;

  record(kind: string, ms: number): void {
    let list = this.byKind.get(kind);
    if (list === undefined) this.byKind.set(kind, (list = []));
    list.push(ms);
    this.commands += 1;
  }

  async time<T>(kind: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const value = await fn();
    this.record(kind, performance.now() - started);
    return value;
  }

  all(): number[] {
    return [...this.byKind.values()].flat();
  }
}

export interface SessionLoad<S> {
  readonly sessions: number;
  readonly durationMs: number;
  /** Opens and logs in session i (outside the timed window). */
  open(index: number): Promise<S>;
  /** One step of session i: one or more timed commands recorded in `log`. */
  step(session: S, random: () => number, log: LatencyLog): Promise<void>;
  close(session: S): Promise<void>;
  /** Session i's command sequence comes from seed + i. */
  readonly seed: number;
}

export interface LoadResult {
  /** Median time to open a session (connect, TLS, login, select), outside the window. */
  readonly openP50Ms: number;
  readonly commandsPerSec: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly log: LatencyLog;
}

/**
 * Opens every session, then runs them all closed-loop (each awaits its answer before its next
 * command) for durationMs; commands/s counts commands answered inside the window.
 */
export async function driveSessions<S>(load: SessionLoad<S>): Promise<LoadResult> {
  const opened: S[] = [];
  const openMs: number[] = [];
  try {
    for (let i = 0; i < load.sessions; i++) {
      const openStarted = performance.now();
      opened.push(await load.open(i));
      openMs.push(performance.now() - openStarted);
    }
    const log = new LatencyLog();
    const started = performance.now();
    const deadline = started + load.durationMs;
    await Promise.all(
      opened.map(async (session, i) => {
        const random = seededRandom(load.seed + i);
        while (performance.now() < deadline) await load.step(session, random, log);
      }),
    );
    const elapsedMs = performance.now() - started;
    const sorted = log.all().sort((a, b) => a - b);
    const openP50Ms = percentileSorted(openMs.sort((a, b) => a - b), 50);
    return { openP50Ms, commandsPerSec: log.commands / (elapsedMs / 1000), latencyP50Ms: percentileSorted(sorted, 50), latencyP99Ms: percentileSorted(sorted, 99), log };
  } finally {
    await Promise.all(opened.map((s) => load.close(s)));
  }
}

/** The standard readings of a load run: commands/s, p50 and p99 over all commands, and p50 per kind. */
export function loadReadings(result: LoadResult): Reading[] {
  const readings: Reading[] = [
    { metric: 'commands', unit: 'cmds/s', value: result.commandsPerSec },
    { metric: 'latency p50', unit: 'ms', value: result.latencyP50Ms },
    { metric: 'latency p99', unit: 'ms', value: result.latencyP99Ms },
  ];
  for (const [kind, samples] of [...result.log.byKind].sort(([a], [b]) => a.localeCompare(b))) {
    readings.push({ metric: `${kind} p50`, unit: 'ms', value: percentileSorted([...samples].sort((a, b) => a - b), 50) });
  }
  return readings;
}

/** Picks a key by weight. */
export function weighted<K extends string>(random: () => number, weights: Readonly<Record<K, number>>): K {
  const entries = Object.entries(weights) as [K, number][];
  let total = 0;
  for (const [, w] of entries) total += w;
  let r = random() * total;
  for (const [key, w] of entries) {
    r -= w;
    if (r < 0) return key;
  }
  return entries[entries.length - 1]![0];
}
