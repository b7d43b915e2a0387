// Seeded fuzzing of SMTP and LMTP sessions through protocols/fuzz.ts: mutated transaction
// scripts (EHLO/LHLO, MAIL, RCPT with DSN parameters, DATA with dot-stuffing, RSET, NOOP, AUTH, VRFY, QUIT) fed
// whole and in 1, 3 and 17 byte pieces over real sockets to the front end on a real server's
// directory and databases. Proves no input breaks the server: every answer is a well-formed
// reply line, and after any garbage a live session still answers NOOP (after the fuzz input
// is closed off as a DATA block if it left one open). FUZZ_SEED=n reproduces a run;
// FUZZ_ITERATIONS=n runs longer.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { fuzzIterations, fuzzSeed, runFuzz, type FuzzTarget } from '../fuzz.js';
import { type TestServer, startTestServer } from '../../test/harness.js';
import type { FrontEnd } from '../frontend.js';
import { startSmtp } from './server.js';
import type { MailServices, SafetyNetEntry } from './types.js';

const seed = fuzzSeed(0x5e1f7a9);
let server: TestServer;
let frontEnd: FrontEnd;
const kept: SafetyNetEntry[] = [];

const scripts = [
  'EHLO fuzz.test\r\nMAIL FROM:<a@remote.test> BODY=8BITMIME SIZE=100\r\nRCPT TO:<demo@example.org>\r\nDATA\r\nSubject: fuzz\r\n\r\n..dot\r\nbody\r\n.\r\nNOOP\r\n',
  'EHLO fuzz.test\r\nMAIL FROM:<>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<x@elsewhere.test>\r\nRSET\r\nVRFY demo\r\nHELP\r\n',
  'HELO h\r\nMAIL FROM:<a@remote.test> SMTPUTF8\r\nRCPT TO:<demo@example.org> NOTIFY=NEVER\r\nDATA\r\n\r\n.\r\nQUIT\r\n',
  // DSN parameters (offered on the MX port, which has a queue here; not on LMTP).
  'EHLO fuzz.test\r\nMAIL FROM:<a@remote.test> RET=FULL ENVID=q+2B1\r\nRCPT TO:<demo@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+40y@z\r\nDATA\r\nSubject: dsn\r\n\r\nx\r\n.\r\n',
  // (No STARTTLS: once accepted the session waits for a TLS handshake, which plain bytes never are.)
  'EHLO fuzz.test\r\nAUTH PLAIN AGRlbW8AcGFzcw==\r\nMAIL FROM:<a@remote.test>\r\nDATA\r\n',
];
const specials = ['NOTIFY=', 'ORCPT=rfc822;', 'RET=HDRS', 'ENVID=', '+2B', '+', '\r', '\n', '\r\n', ' ', '\0', '\xff', '.', '.\r\n', '\r\n.\r\n', '<', '>', ':', '@', '=', 'x'.repeat(1200), '99999999999999999999', 'DATA\r\n', 'MAIL FROM:<a@b>\r\n'];
const replyLine = /^\d{3}[ -][^\r\n]*$/;

class SocketTarget implements FuzzTarget {
  output = '';
  private closed = false;
  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (this.output += c));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }
  static async open(port: number): Promise<SocketTarget> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const target = new SocketTarget(socket);
    await target.waitFor(() => target.output.includes('\r\n'), 'the greeting');
    return target;
  }
  async waitFor(check: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!check()) {
      if (this.closed) return;
      if (Date.now() > deadline) throw new Error(`no ${what}; output so far ${JSON.stringify(this.output.slice(-300))}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  async feed(chunk: Uint8Array): Promise<void> {
    if (!this.closed) this.socket.write(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  heldBytes(): number {
    return 0; // smtp-server holds the line; its own cap (and our SIZE) bound it
  }
  alive(): boolean {
    return !this.closed;
  }
  async close(): Promise<void> {
    this.socket.destroy();
    for (const line of this.output.split('\r\n').slice(0, -1)) assert.match(line, replyLine);
  }
}

before(async () => {
  server = await startTestServer();
  let n = 0;
  const services: MailServices = { safetyNet: { keep: async (entry) => void kept.push(entry) }, outbound: { enqueue: async () => undefined }, nowMs: Date.now, newId: () => `fuzz${String(++n).padStart(8, '0')}` };
  frontEnd = await startSmtp(server.server.context, { host: '127.0.0.1', port: () => 0 }, services, { services: ['smtp', 'lmtp'] });
});

after(async () => {
  await frontEnd.close();
  await server.stop();
});

for (const service of ['smtp', 'lmtp'] as const) {
  test(`mutated ${service.toUpperCase()} sessions are answered and keep answering (FUZZ_SEED=${seed})`, async () => {
    let current: SocketTarget | null = null;
    const corpus = scripts.map((s) => Buffer.from(service === 'lmtp' ? s.replace(/^(EHLO|HELO)/gm, 'LHLO') : s, 'latin1'));
    const result = await runFuzz({
      corpus,
      seed,
      iterations: fuzzIterations(60),
      specials,
      heldBytesMax: 0,
      open: async () => (current = await SocketTarget.open(frontEnd.ports[service]!)),
      async afterEach(target) {
        const t = target as SocketTarget;
        // Close off a DATA block the garbage may have opened, then NOOP must be answered.
        const mark = t.output.length;
        await t.feed(Buffer.from('\r\n.\r\nNOOP\r\n'));
        await t.waitFor(() => /(^|\r\n)250 2\.0\.0 OK\r\n/.test(t.output.slice(mark)), 'answer to NOOP');
      },
    });
    assert.ok(current !== null);
    assert.ok(result.inputs > 0);
  });
}
