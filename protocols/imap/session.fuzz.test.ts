// Seeded fuzzing of the whole IMAP session (decoder, parser, state machine, every handler)
// against a real server's mailbox API: valid commands in the selected state, mutated by the
// shared harness (protocols/fuzz.ts) and fed whole and in 1, 3 and 17 byte pieces. Proves no
// input makes a handler throw (the session would answer BYE [SERVERBUG]), held input stays
// bounded, and a fresh session still works afterwards. FUZZ_SEED=n reproduces a run. The corpus
// includes the ACL commands on public folders (owned, reviewed, hidden) and the shared namespaces.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../../test/harness.js';
import type { FrontEndContext } from '../frontend.js';
import { fuzzIterations, fuzzSeed, runFuzz, type FuzzTarget } from '../fuzz.js';
import { commandBytesOverLiteral, pendingInputBytesMax } from './constants.js';
import { ImapSession, type SessionIo } from './session.js';
import { limitedContext } from './testing.js';
import { rfcExamples } from './wire/rfc-examples.fixture.js';

const user = { address: 'fuzz@example.org', password: 'fuzz-pw' };
const messageBytesMax = 4096;
let server: TestServer;
let context: FrontEndContext;

before(async () => {
  server = await startTestServer();
  await server.addUser(user.address, user.password);
  // Public folders the fuzzed user owns, reviews and cannot see, for the ACL commands and the shared namespace.
  const pf = server.server.publicFolders;
  for (const done of [await pf.add('Team'), await pf.setPermission('Team', user.address, 'owner'), await pf.add('Team/Read'), await pf.setPermission('Team/Read', user.address, 'reviewer'), await pf.add('Hidden'), await pf.setPermission('Hidden', 'anyone', null)]) {
    assert.ok(done.ok);
  }
  context = limitedContext(server, { messageBytesMax, sessionsPerUser: 1000 }).context;
});

after(async () => {
  await server.stop();
});

/** A connection in memory: what the session writes is kept (the tail) to look for SERVERBUG. */
class MemoryIo implements SessionIo {
  readonly id = 'fuzz';
  readonly remoteAddress = '127.0.0.1';
  readonly secure = true;
  compressed = false;
  isClosed = false;
  output = '';
  private closeListeners: Array<() => void> = [];
  onData(): void {}
  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }
  onIdle(): void {}
  setIdleMs(): void {}
  write(bytes: Uint8Array | string): Promise<void> {
    const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('latin1');
    if (text.includes('SERVERBUG')) this.output += text;
    return Promise.resolve();
  }
  hold(): void {}
  release(): Promise<void> {
    return Promise.resolve();
  }
  pause(): void {}
  resume(): void {}
  startTls(): Promise<boolean> {
    return Promise.resolve(false);
  }
  startCompression(): void {
    // Deflated input cannot be fed by this harness: end the session, the run opens another.
    this.close();
  }
  close(farewell?: Uint8Array | string): void {
    if (farewell !== undefined) void this.write(farewell);
    if (this.isClosed) return;
    this.isClosed = true;
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

const script = [
  'a1 NOOP',
  'a2 FETCH 1:* (FLAGS UID ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (Subject)] BINARY.PEEK[1]<0.10> RFC822.SIZE MODSEQ)',
  'a3 UID SEARCH OR FROM "a" BODY "x" NOT SEEN SINCE 1-Jan-2020',
  'a4 STORE 1:2 +FLAGS (\\Seen $X)',
  'a5 APPEND INBOX (\\Flagged) {23+}\r\nSubject: x\r\n\r\nhello!!\r\n',
  'a6 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)',
  'a7 LIST "" *',
  'a8 STATUS INBOX (MESSAGES UIDNEXT SIZE HIGHESTMODSEQ)',
  'a9 SORT (SUBJECT REVERSE DATE) UTF-8 ALL',
  'a10 THREAD REFERENCES UTF-8 ALL',
  'a11 COPY 1 Archive',
  'a12 SEARCH RETURN (SAVE MIN) ALL',
  'a13 FETCH $ (FLAGS BODY[])',
  'a14 EXPUNGE',
  'a15 IDLE\r\nDONE',
  'a16 SELECT INBOX (CONDSTORE)',
  'a17 ENABLE QRESYNC UTF8=ACCEPT',
  'a18 CREATE "fuzz/bar"',
  'a19 UID MOVE 3 Trash',
  'a20 UID EXPUNGE 1:*',
  'a21 GETQUOTAROOT INBOX',
  'a22 EXAMINE Archive',
  'a23 UNSELECT',
  'a24 SETACL "Public Folders/Team" demo@example.org +lrsd',
  'a25 GETACL "Public Folders/Team"',
  'a26 LISTRIGHTS "Public Folders/Team/Read" anyone',
  'a27 MYRIGHTS "Public Folders/Hidden"',
  'a28 DELETEACL INBOX demo@example.org',
  'a29 SETACL INBOX demo@example.org -c',
  'a30 SELECT "Public Folders/Team/Read"',
  'a31 STORE 1 +FLAGS (\\Deleted)',
  'a32 COPY 1 "Public Folders/Team"',
  'a33 APPEND "Public Folders/Team" {23+}\r\nSubject: x\r\n\r\nhello!!\r\n',
  'a34 CREATE "Public Folders/Team/New"',
  'a35 LIST "" "Public Folders/%" RETURN (MYRIGHTS STATUS (MESSAGES))',
  'a36 EXAMINE "Other Users/demo@example.org/INBOX"',
  'a37 RENAME "Public Folders/Team/New" "Public Folders/Team/Old"',
  'a38 DELETE "Public Folders/Team/Old"',
];
// Logins and logouts only cost time here (scrypt, new sessions): the limits test covers them.
const skip = /^\S+ (LOGIN|AUTHENTICATE|LOGOUT|STARTTLS|COMPRESS)/i;
const corpus = [...script, ...rfcExamples.map((e) => e.command).filter((c) => !skip.test(c))].map((c) => Buffer.from(c + '\r\n', 'utf8'));

async function open(): Promise<FuzzTarget & { io: MemoryIo; session: ImapSession }> {
  const io = new MemoryIo();
  const session = new ImapSession(io, context);
  const feed = async (chunk: Uint8Array): Promise<void> => {
    session.receive(chunk);
    await session.pump();
  };
  await feed(Buffer.from(`z1 LOGIN ${user.address} ${user.password}\r\nz2 SELECT INBOX\r\n`));
  return {
    io,
    session,
    feed,
    heldBytes: () => session.heldBytes(),
    alive: () => !io.isClosed,
    async close() {
      io.close();
    },
  };
}

test(`session fuzz: mutated commands never break a handler, held input stays bounded (FUZZ_SEED=${fuzzSeed(0x1a9e5)})`, async () => {
  const sessions: MemoryIo[] = [];
  const result = await runFuzz({
    corpus,
    seed: fuzzSeed(0x1a9e5),
    iterations: fuzzIterations(400),
    heldBytesMax: messageBytesMax + commandBytesOverLiteral + pendingInputBytesMax + 64 * 1024,
    async open() {
      const target = await open();
      sessions.push(target.io);
      return target;
    },
    async afterEach() {
      const broken = sessions.find((io) => io.output.includes('SERVERBUG'));
      assert.equal(broken?.output, undefined, 'a handler threw');
    },
  });
  assert.ok(result.inputs > 0);
  // A new session still logs in and works.
  const fresh = await open();
  await fresh.feed(Buffer.from('y1 NOOP\r\n'));
  assert.ok(fresh.alive());
  assert.equal(fresh.session.state, 'selected');
  await fresh.close();
});
