// Proves that sessions on one mailbox see each other's changes with the right untagged
// responses, over real sockets: IDLE gets EXISTS for a new message; flag changes arrive as FETCH
// (with MODSEQ under CONDSTORE); expunges are held back during FETCH/STORE/SEARCH and sent on
// NOOP (EXPUNGE, or VANISHED under QRESYNC) with sequence numbers kept right; QRESYNC SELECT and
// UID FETCH CHANGEDSINCE VANISHED resynchronise a client that was away.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../../test/harness.js';
import type { CommitResult, MailboxApi, TxRequest } from '../../engine/api.js';
import type { Result } from '../../engine/errors.js';
import { RawImap, startLimitedImap, type Reply } from './testing.js';

let server: TestServer;

before(async () => {
  server = await startTestServer();
});

after(async () => {
  await server.stop();
});

async function login(address: string, password: string): Promise<RawImap> {
  const c = await RawImap.connect(server.port('imaps'), { tls: true, ca: server.cert });
  await c.line();
  ok(await c.command(`LOGIN ${address} ${password}`));
  return c;
}

function ok(r: Reply): Reply {
  assert.match(r.tagged, /^\S+ OK/, r.raw);
  return r;
}

const message = (n: number): string => `From: a@example.org\r\nSubject: message ${n}\r\n\r\nbody ${n}\r\n`;

async function append(c: RawImap, n: number): Promise<void> {
  const m = message(n);
  ok(await c.command(`APPEND INBOX {${m.length}+}\r\n${m}`));
}

/** Two sessions of a new user `name`@example.org: A appends `messages` messages and selects INBOX; B is only logged in. */
async function pair(name: string, messages: number): Promise<[RawImap, RawImap]> {
  await server.addUser(`${name}@example.org`, `${name}-pw`);
  const a = await login(`${name}@example.org`, `${name}-pw`);
  const b = await login(`${name}@example.org`, `${name}-pw`);
  for (let i = 1; i <= messages; i++) await append(a, i);
  ok(await a.command('SELECT INBOX'));
  return [a, b];
}

test('IDLE delivers EXISTS; FETCH FLAGS with MODSEQ; expunges wait for a command that allows them', async () => {
  const [a, b] = await pair('pair', 3);
  ok(await b.command('ENABLE CONDSTORE'));
  ok(await b.command('SELECT INBOX'));

  // B idles; A appends; B is told at once, without asking.
  b.write('i1 IDLE\r\n');
  assert.match((await b.line())!, /^\+ /);
  await append(a, 4);
  assert.equal(await b.line(), '* 4 EXISTS');
  // A flag change while idling arrives as FETCH with MODSEQ.
  ok(await a.command('STORE 2 +FLAGS (\\Seen)'));
  assert.match((await b.line())!, /^\* 2 FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)$/);
  b.write('DONE\r\n');
  assert.match((await b.until('i1')).tagged, /^i1 OK/);

  // A expunges message 1. B's FETCH must not announce it, and B's numbers stay as they were.
  ok(await a.command('STORE 1 +FLAGS (\\Deleted)'));
  const expunged = ok(await a.command('EXPUNGE'));
  assert.ok(expunged.untagged.includes('* 1 EXPUNGE'));
  let r = ok(await b.command('FETCH 1:* (UID)'));
  assert.ok(!r.untagged.some((l) => /EXPUNGE/.test(l)), r.raw);
  assert.ok(r.untagged.includes('* 2 FETCH (UID 2)'), r.raw);
  r = ok(await b.command('SEARCH ALL'));
  assert.ok(!r.untagged.some((l) => /EXPUNGE/.test(l)), r.raw);
  // NOOP may say it: sequence number 1 goes, and 2 becomes 1.
  r = ok(await b.command('NOOP'));
  assert.ok(r.untagged.includes('* 1 EXPUNGE'), r.raw);
  r = ok(await b.command('FETCH 1 (UID)'));
  assert.deepEqual(r.untagged, ['* 1 FETCH (UID 2)']);

  // Interleaved: two expunges by A, B's UID command may hear them (UID commands allow EXPUNGE).
  ok(await a.command('STORE 1:2 +FLAGS (\\Deleted)'));
  ok(await a.command('EXPUNGE'));
  r = ok(await b.command('UID FETCH 1:* (FLAGS)'));
  const announced = r.untagged.filter((l) => / EXPUNGE$/.test(l));
  assert.equal(announced.length, 2, r.raw);
  r = ok(await b.command('FETCH 1:* (UID)'));
  assert.deepEqual(r.untagged, ['* 1 FETCH (UID 4)']);
  ok(await a.command('LOGOUT'));
  ok(await b.command('LOGOUT'));
  a.close();
  b.close();
});

test('QRESYNC: VANISHED instead of EXPUNGE, SELECT (QRESYNC ...) and UID FETCH CHANGEDSINCE VANISHED', async () => {
  const [a, b] = await pair('qresync', 5);
  ok(await b.command('ENABLE QRESYNC'));
  let r = ok(await b.command('SELECT INBOX'));
  const uidValidity = Number(r.untagged.find((l) => l.includes('UIDVALIDITY'))!.match(/UIDVALIDITY (\d+)/)![1]);
  const modseq = Number(r.untagged.find((l) => l.includes('HIGHESTMODSEQ'))!.match(/HIGHESTMODSEQ (\d+)/)![1]);

  ok(await a.command('STORE 2 +FLAGS (\\Deleted \\Flagged)'));
  ok(await a.command('STORE 3 +FLAGS (\\Answered)'));
  ok(await a.command('EXPUNGE'));
  r = ok(await b.command('NOOP'));
  assert.ok(r.untagged.includes('* VANISHED 2'), r.raw);
  assert.ok(r.untagged.some((l) => /^\* 3 FETCH \(UID 3 FLAGS \(\\Answered\) MODSEQ \(\d+\)\)$/.test(l)), r.raw);

  r = ok(await b.command(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq} VANISHED)`));
  assert.ok(r.untagged.includes('* VANISHED (EARLIER) 2'), r.raw);
  assert.ok(r.untagged.some((l) => /UID 3 FLAGS \(\\Answered\) MODSEQ/.test(l)), r.raw);
  assert.equal(r.untagged.length, 2, r.raw);

  // A client that was away: SELECT with what it knew.
  ok(await b.command('UNSELECT'));
  r = ok(await b.command(`SELECT INBOX (QRESYNC (${uidValidity} ${modseq} 1:5))`));
  assert.ok(r.untagged.includes('* VANISHED (EARLIER) 2'), r.raw);
  assert.ok(r.untagged.some((l) => /^\* 2 FETCH \(UID 3 FLAGS \(\\Answered\) MODSEQ \(\d+\)\)$/.test(l)), r.raw);
  // A SELECT while selected closes the old one first.
  r = ok(await b.command('EXAMINE INBOX'));
  assert.equal(r.untagged[0], '* OK [CLOSED] Previous mailbox closed');
  assert.match(r.tagged, /OK \[READ-ONLY\]/);
  assert.match((await b.command('STORE 1 +FLAGS (\\Seen)')).tagged, /NO/);
  ok(await a.command('LOGOUT'));
  ok(await b.command('LOGOUT'));
  a.close();
  b.close();
});

test("concurrent STORE/APPEND/EXPUNGE in two sessions: each view, updated from its commits' own listings, ends equal to the mailbox", async () => {
  const [a, b] = await pair('race', 6);
  ok(await b.command('SELECT INBOX'));
  const flags = ['\\Seen', '\\Flagged', '\\Answered', '$Work'];
  const load = async (c: RawImap, who: number): Promise<void> => {
    for (let round = 0; round < 12; round++) {
      const flag = flags[(round + who) % flags.length]!;
      ok(await c.command(`UID STORE ${1 + ((round * 5 + who) % 6)} ${round % 3 === 0 ? '-' : '+'}FLAGS (${flag})`));
      if (round % 4 === who) await append(c, 100 + round * 2 + who);
      if (round === 6 + who) {
        ok(await c.command(`UID STORE ${2 + who} +FLAGS (\\Deleted)`));
        ok(await c.command('EXPUNGE'));
      }
    }
  };
  await Promise.all([load(a, 0), load(b, 1)]);
  const fresh = await login('race@example.org', 'race-pw');
  ok(await fresh.command('SELECT INBOX'));
  const truth = ok(await fresh.command('FETCH 1:* (UID FLAGS)')).untagged.sort();
  for (const c of [a, b]) {
    ok(await c.command('NOOP'));
    assert.deepEqual(ok(await c.command('FETCH 1:* (UID FLAGS)')).untagged.sort(), truth);
  }
  for (const c of [a, b, fresh]) {
    ok(await c.command('LOGOUT'));
    c.close();
  }
});

test("another session's change noticed between a commit's listing and the view's update is still told", { timeout: 60_000 }, async () => {
  await server.addUser('between@example.org', 'between-pw');
  // After the session's own STORE commits (its listing made), another writer flags message 2,
  // and its notice reaches the session before the STORE's answer does: the listing that came
  // with the commit does not hold that change, so the session must list again.
  let interleave = false;
  const wrapApi = (api: MailboxApi): MailboxApi =>
    new Proxy(api, {
      get(target, key) {
        if (key !== 'commit') return Reflect.get(target, key, target);
        return async (request: TxRequest): Promise<Result<CommitResult>> => {
          const result = await target.commit(request);
          if (!interleave || request.listAfter === undefined || !result.ok) return result;
          interleave = false;
          let stop = (): void => {};
          const other = await new Promise<Result<CommitResult>>((resolve) => {
            let committed: Result<CommitResult> | null = null;
            let noticed = 0;
            const settle = (): void => {
              if (committed !== null && (!committed.ok || noticed >= committed.value.modseqHighest)) resolve(committed);
            };
            // Registered after the session's own watch, so called after it for the same notice.
            stop = target.watch(request.mailboxId, (change) => {
              noticed = Math.max(noticed, change.modseqHighest);
              settle();
            });
            void target.commit({ mailboxId: request.mailboxId, ops: [{ op: 'store', folder: 'INBOX', uids: [2], mode: 'add', flags: ['$Other'] }] }).then((r) => {
              committed = r;
              settle();
            });
          });
          stop();
          assert.ok(other.ok);
          return result;
        };
      },
    });
  const imap = await startLimitedImap(server, {}, { wrapApi });
  try {
    const c = await RawImap.connect(imap.frontEnd.ports.imaps!, { tls: true, ca: imap.cert });
    await c.line();
    ok(await c.command('LOGIN between@example.org between-pw'));
    for (let i = 1; i <= 2; i++) await append(c, i);
    ok(await c.command('SELECT INBOX'));
    interleave = true;
    const stored = ok(await c.command('STORE 1 +FLAGS (\\Flagged)')).untagged;
    assert.equal(interleave, false, 'the other writer ran');
    // Noticed before the STORE answered, so told in its answer (no NOOP: a NOOP lists anyway).
    assert.ok(stored.some((l) => /^\* 2 FETCH \(UID 2 FLAGS \(\$Other\)\)$/.test(l)), stored.join('\n'));
    const told = ok(await c.command('FETCH 2 (FLAGS)')).untagged;
    assert.ok(told.some((l) => /^\* 2 FETCH \(FLAGS \(\$Other\)\)$/.test(l)), told.join('\n'));
    ok(await c.command('LOGOUT'));
    c.close();
  } finally {
    await imap.frontEnd.close();
  }
});

test("EXPUNGE removes what another session marked \\Deleted just before, though this session's view was not listed since", async () => {
  const [a, b] = await pair('marks', 3);
  ok(await b.command('SELECT INBOX'));
  for (let round = 0; round < 3; round++) {
    // A's answer comes after its change notice reached B's server: B's EXPUNGE must see the flag.
    ok(await a.command(`STORE ${3 - round} +FLAGS.SILENT (\\Deleted)`));
    const expunged = ok(await b.command('EXPUNGE')).untagged;
    assert.ok(expunged.includes(`* ${3 - round} EXPUNGE`), expunged.join('\n'));
  }
  const left = ok(await b.command('SEARCH ALL')).untagged;
  assert.deepEqual(left, ['* SEARCH']);
  for (const c of [a, b]) {
    ok(await c.command('LOGOUT'));
    c.close();
  }
});

test('what APPEND stored reads back byte for byte, from the session that appended it and from another (the shared content cache)', async () => {
  await server.addUser('echo@example.org', 'echo-pw');
  const a = await login('echo@example.org', 'echo-pw');
  const one = 'From: a@example.org\r\nSubject: first\r\n\r\nthe first body\r\n';
  const two = 'From: b@example.org\r\nSubject: second, longer\r\n\r\nthe second body, a little longer\r\n';
  ok(await a.command(`APPEND INBOX {${one.length}+}\r\n${one} {${two.length}+}\r\n${two}`));
  const b = await login('echo@example.org', 'echo-pw');
  for (const c of [a, b]) {
    ok(await c.command('SELECT INBOX'));
    const raw = ok(await c.command('FETCH 1:2 (BODY.PEEK[])')).raw;
    assert.ok(raw.includes(`* 1 FETCH (BODY[] {${one.length}}\r\n${one})`), raw);
    assert.ok(raw.includes(`* 2 FETCH (BODY[] {${two.length}}\r\n${two})`), raw);
  }
  for (const c of [a, b]) {
    ok(await c.command('LOGOUT'));
    c.close();
  }
});
