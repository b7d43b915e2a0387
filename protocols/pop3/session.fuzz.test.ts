// Seeded fuzzing of the whole POP3 session (decoder, parser, state machine, every command,
// AUTH continuation lines, QUIT's commit) through protocols/fuzz.ts: mutated command scripts
// fed whole and in 1, 3 and 17 byte pieces to sessions over an in-memory connection, context
// and INBOX. Proves no input throws out of a session, the session holds at most one line
// (commandBytesMax, or saslLineBytesMax while AUTH waits for its response), every answer is a
// well-formed POP3 line, and a live session still answers a command after any garbage.
// FUZZ_SEED=n reproduces a run; FUZZ_ITERATIONS=n runs longer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzIterations, fuzzSeed, runFuzz, type FuzzTarget } from '../fuzz.js';
import { MaildropLocks } from './maildrop.js';
import { Pop3Session } from './session.js';
import { memoryContext, memoryInbox, MemoryIo, message } from './testing.js';
import { saslLineBytesMax } from './wire/constants.js';

const seed = fuzzSeed(0x5eed1234);
const user = { address: 'demo@example.org', password: 'correct horse' };
const plain = Buffer.from(`\0${user.address}\0${user.password}`).toString('base64');

const scripts = [
  `USER ${user.address}\r\nPASS ${user.password}\r\nSTAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 3\r\nRETR 1\r\nTOP 2 1\r\nDELE 2\r\nRSET\r\nDELE 1\r\nNOOP\r\nQUIT\r\n`,
  `AUTH PLAIN ${plain}\r\nRETR 3\r\nTOP 1 0\r\nDELE 3\r\nDELE 3\r\nLIST\r\nQUIT\r\n`,
  `AUTH PLAIN\r\n${plain}\r\nSTAT\r\nUIDL\r\nRETR 9\r\nQUIT\r\n`,
  `CAPA\r\nAUTH\r\nSTLS\r\nAPOP demo c4c9334bac560ecc979e58001b3e22fb\r\nUSER ${user.address}\r\nPASS wrong\r\nLAST\r\nQUIT\r\n`,
  `USER ${user.address}\r\nPASS ${user.password}\r\nCAPA\r\nTOP 1 99\r\nRETR 2\r\nDELE 1\r\nDELE 2\r\nDELE 3\r\nSTAT\r\nQUIT\r\n`,
];
const specials = ['\r', '\n', '\r\n', ' ', '\0', '\xff', '.', '=', '*', '99999999999', 'x'.repeat(300), 'QUIT\r\n', 'AUTH PLAIN\r\n'];
const contents = [message('one', ['.leading dot', 'text']), message('two', ['a', 'b', 'c']), Buffer.from('No-Header-End: x\r\n.\r\n')];
/** A status line, a continuation, or a line of a multi-line body: never a bare CR or NUL. */
const answerLine = /^[^\r\n\0]*$/;

let current: MemoryIo | null = null;
/** Sessions that got as far as TRANSACTION and as QUIT's commit: the fuzz reaches deep states. */
const reached = { loggedIn: 0, updated: 0 };

function open(): Promise<FuzzTarget> {
  const io = new MemoryIo(true);
  current = io;
  const session = new Pop3Session(io, memoryContext(user, memoryInbox('mbx-1', contents)), new MaildropLocks());
  const done = session.run();
  return Promise.resolve({
    feed: (chunk) => io.feed(chunk),
    heldBytes: () => session.heldBytes(),
    alive: () => !io.isClosed,
    async close() {
      io.close();
      await done;
      assert.ok(io.output.startsWith('+OK '), 'greeted');
      assert.ok(io.output.endsWith('\r\n'), 'every answer ends with CRLF');
      for (const line of io.output.slice(0, -2).split('\r\n')) assert.match(line, answerLine);
      if (io.output.includes('+OK Logged in')) reached.loggedIn++;
      if (io.output.includes('messages left)')) reached.updated++;
    },
  });
}

test(`mutated POP3 sessions never throw, stay bounded and keep answering (FUZZ_SEED=${seed})`, async () => {
  const result = await runFuzz({
    corpus: scripts.map((s) => Buffer.from(s, 'latin1')),
    seed,
    iterations: fuzzIterations(600),
    specials,
    heldBytesMax: saslLineBytesMax,
    open,
    async afterEach(target) {
      // End whatever line the garbage left open, then a command must still get an answer.
      await target.feed(Buffer.from('\r\n'));
      if (!target.alive()) return;
      await target.feed(Buffer.from('CAPA\r\n'));
      if (target.alive()) assert.ok(current!.output.endsWith('IMPLEMENTATION Quire\r\n.\r\n'), 'CAPA answered after the garbage');
    },
  });
  assert.ok(result.sessions > 1, 'the scripts end sessions (QUIT), so fresh ones were opened');
  assert.ok(reached.loggedIn > 0 && reached.updated > 0, `logged in ${reached.loggedIn} times, QUIT from TRANSACTION ${reached.updated} times`);
  console.log(`${result.inputs} inputs, ${result.sessions} sessions, ${reached.loggedIn} logins, ${reached.updated} updates`);
});
