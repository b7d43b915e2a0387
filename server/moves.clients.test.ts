// Mailbox moves as real clients see them. A QRESYNC client (Python's imaplib with raw ENABLE and
// SELECT ... (QRESYNC ...)) that cached UIDVALIDITY/HIGHESTMODSEQ in the source resyncs in the
// target without a full refetch and gets exactly the changes the source would have sent, with the
// same OBJECTIDs (MAILBOXID, EMAILID, THREADID); JMAP states stay valid. Open IMAP, POP3 and JMAP
// push sessions are told to reconnect at the switch. And under LMTP delivery (nodemailer) and
// IMAP flag changes and expunges (imapflow) throughout a move, the target after the move equals
// the source as it was under the final lock, exactly (modseqs, ids, expunge history included),
// and every acknowledged delivery is in it once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { begin, type MailboxApi } from '../engine/api.js';
import { startTestServer, type TestServer } from '../test/harness.js';
import { adminCall, httpsCall } from '../protocols/http/testing.js';
import { RawImap } from '../protocols/imap/testing.js';
import { Pop3TestClient } from '../protocols/pop3/testing.js';
import type { MoveRecord } from './moves.js';

const run = promisify(execFile);

const message = (id: string): string =>
  `From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: ${id}\r\nMessage-ID: <${id}@example.org>\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nBody of ${id}.\r\n`;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function ok<T>(result: { ok: true; value: T } | { ok: false; code: string; message: string }): T {
  if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
  return result.value;
}

const pythonQresync = `
import imaplib, json, re, ssl, sys

port, cafile, user, password, mode = sys.argv[1:6]
imap = imaplib.IMAP4_SSL('localhost', int(port), ssl_context=ssl.create_default_context(cafile=cafile))
imap.login(user, password)
imap.enable('QRESYNC')

def expand(ranges):
    out = []
    for part in ranges.split(','):
        lo, _, hi = part.partition(':')
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out

def fetch_items(data):
    items = []
    for raw in data:
        text = raw.decode() if isinstance(raw, bytes) else raw[0].decode()
        item = {'uid': int(re.search(r'UID (\\d+)', text).group(1))}
        for key, pattern in (('modseq', r'MODSEQ \\((\\d+)\\)'), ('flags', r'FLAGS \\(([^)]*)\\)'), ('emailid', r'EMAILID \\(([^)]*)\\)'), ('threadid', r'THREADID \\(([^)]*)\\)')):
            m = re.search(pattern, text)
            if m: item[key] = int(m.group(1)) if key == 'modseq' else sorted(m.group(1).split()) if key == 'flags' else m.group(1)
        items.append(item)
    return sorted(items, key=lambda i: i['uid'])

def untagged(name):
    return imap.untagged_responses.pop(name, [])

imap.untagged_responses.clear()
if mode == 'cache':
    typ, _ = imap._simple_command('SELECT', 'INBOX', '(CONDSTORE)')
else:
    typ, _ = imap._simple_command('SELECT', 'INBOX', '(QRESYNC (%s %s))' % (sys.argv[6], sys.argv[7]))
assert typ == 'OK', typ
imap.state = 'SELECTED'
out = {}
out['uidvalidity'] = int(untagged('UIDVALIDITY')[0])
out['highestmodseq'] = int(untagged('HIGHESTMODSEQ')[0])
out['mailboxid'] = untagged('MAILBOXID')[0].decode().strip('()')
out['exists'] = int(untagged('EXISTS')[0])
vanished = [v.decode() for v in untagged('VANISHED')]
out['vanished'] = sorted(u for v in vanished for u in expand(v.replace('(EARLIER) ', '')))
out['earlier'] = all(v.startswith('(EARLIER) ') for v in vanished)
out['fetch'] = fetch_items(untagged('FETCH'))
typ, data = imap.uid('FETCH', '1:*', '(MODSEQ FLAGS EMAILID THREADID)')
assert typ == 'OK', typ
out['all'] = fetch_items([d for d in data if d is not None])
imap.logout()
print(json.dumps(out))
`;

interface Resync {
  uidvalidity: number;
  highestmodseq: number;
  mailboxid: string;
  exists: number;
  vanished: number[];
  earlier: boolean;
  fetch: Array<{ uid: number; modseq: number; flags: string[] }>;
  all: Array<{ uid: number; modseq: number; flags: string[]; emailid: string; threadid: string }>;
}

async function waitMove(quire: TestServer, id: string): Promise<MoveRecord> {
  const move = (await quire.server.moves.wait(id))!;
  assert.equal(move.state, 'done', move.error);
  return move;
}

test('QRESYNC across a move: cached UIDVALIDITY/HIGHESTMODSEQ resync exactly, OBJECTIDs and JMAP states unchanged; IMAP, POP3 and JMAP push sessions told to reconnect', async () => {
  const quire = await startTestServer();
  const dir = mkdtempSync(join(tmpdir(), 'quire-move-clients-'));
  const sessions: Array<RawImap | Pop3TestClient> = [];
  try {
    const certFile = join(dir, 'cert.pem');
    writeFileSync(certFile, quire.cert);
    const script = join(dir, 'qresync.py');
    writeFileSync(script, pythonQresync);
    const address = 'alice@example.org';
    const password = 'alice-pw-123';
    await quire.addUser(address, password, { database: 'DB01' });
    const user = (await quire.server.directory.findUser(address))!;
    const db01 = quire.server.supervisor.api('DB01');
    const seed = begin(db01, user.mailboxId);
    for (let i = 1; i <= 12; i++) seed.append('INBOX', bytes(message(`seed-${i}`)), i % 4 === 0 ? ['\\Seen'] : []);
    ok(await seed.commit());
    ok(await begin(db01, user.mailboxId).expunge('INBOX', [11]).commit());
    // Account documents (JMAP identities, submissions, the vacation response and whom it answered), one destroyed.
    const documentKinds = ['identity', 'vacation', 'submission', 'vacation-replied'];
    ok(await db01.commit({ mailboxId: user.mailboxId, ops: [
      { op: 'setDocument', kind: 'identity', id: 'I1', value: { name: 'Alice', email: address } },
      { op: 'setDocument', kind: 'vacation', id: 'singleton', value: { isEnabled: true, textBody: 'Away' } },
      { op: 'setDocument', kind: 'submission', id: 'S1', value: { emailId: 'M1' } },
      { op: 'setDocument', kind: 'vacation-replied', id: 'bob@remote.test', value: { atMs: 1 } },
    ] }));
    ok(await db01.commit({ mailboxId: user.mailboxId, ops: [{ op: 'destroyDocument', kind: 'submission', id: 'S1' }, { op: 'setDocument', kind: 'identity', id: 'I1', value: { name: 'Alice B', email: address } }] }));
    const documentsBefore = await Promise.all(documentKinds.map(async (kind) => ok(await db01.documents(user.mailboxId, kind))));
    const python = async (...args: string[]): Promise<Resync> =>
      JSON.parse((await run('python3', [script, String(quire.port('imaps')), certFile, address, password, ...args])).stdout) as Resync;

    // What the client caches, then changes it has not seen: flags, a flag set and cleared (the
    // modseq moves, the flags do not), an expunge, two deliveries.
    const cached = await python('cache');
    assert.equal(cached.all.length, 11);
    ok(await begin(db01, user.mailboxId).store('INBOX', [2, 3], 'add', ['\\Flagged']).commit());
    ok(await begin(db01, user.mailboxId).store('INBOX', [5], 'add', ['$Later']).commit());
    ok(await begin(db01, user.mailboxId).store('INBOX', [5], 'remove', ['$Later']).commit());
    ok(await begin(db01, user.mailboxId).expunge('INBOX', [4]).commit());
    ok(await begin(db01, user.mailboxId).append('INBOX', bytes(message('new-1'))).append('INBOX', bytes(message('new-2')), ['\\Seen']).commit());
    const resync = [String(cached.uidvalidity), String(cached.highestmodseq)];
    const expected = await python('resync', ...resync);
    assert.deepEqual(expected.vanished, [4]);
    assert.deepEqual(expected.fetch.map((f) => f.uid), [2, 3, 5, 13, 14], 'only the changes');

    // Sessions open across the switch: IMAP in IDLE, POP3 in TRANSACTION, a JMAP push stream.
    const idle = await RawImap.connect(quire.port('imaps'), { tls: true, ca: quire.cert });
    sessions.push(idle);
    assert.match((await idle.line()) ?? '', /^\* OK/);
    assert.match((await idle.command(`LOGIN ${address} ${password}`)).tagged, / OK /);
    assert.match((await idle.command('SELECT INBOX')).tagged, / OK /);
    idle.write('c IDLE\r\n');
    assert.match((await idle.line()) ?? '', /^\+ /);
    const pop = await Pop3TestClient.connect(quire.port('pop3s'), { tls: true, cert: quire.cert });
    sessions.push(pop);
    assert.match(await pop.expectLine(), /^\+OK/);
    assert.match(await pop.command(`USER ${address}`), /^\+OK/);
    assert.match(await pop.command(`PASS ${password}`), /^\+OK Logged in/);
    const authorization = `Basic ${Buffer.from(`${address}:${password}`).toString('base64')}`;
    const jmap = async (methodCalls: unknown[]) => {
      const answer = await httpsCall(quire.port('https'), quire.cert, 'POST', '/jmap/api', { headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ using: ['urn:ietf:params:jmap:core', 'urn:ietf:params:jmap:mail'], methodCalls }) });
      assert.equal(answer.status, 200, answer.text());
      return answer.json() as { sessionState: string; methodResponses: Array<[string, Record<string, unknown>, string]> };
    };
    const jmapBefore = await jmap([['Email/get', { accountId: user.mailboxId, ids: [] }, '0'], ['Mailbox/get', { accountId: user.mailboxId, ids: null, properties: ['id', 'name'] }, '1']]);
    const pushEnded = new Promise<string>((resolve, reject) => {
      const request = httpsRequest({ host: '127.0.0.1', port: quire.port('https'), path: '/jmap/eventsource?types=*&closeafter=no&ping=0', ca: quire.cert, servername: 'localhost', headers: { authorization } }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve(text));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end();
    });

    const started = ok(await quire.server.moves.start(address, 'DB02'));
    const move = await waitMove(quire, started.id);
    assert.equal(move.sessionsTold, 3, 'the IMAP, POP3 and JMAP push sessions');
    assert.ok(typeof move.lockMs === 'number' && move.lockMs >= 0);
    const db02 = quire.server.supervisor.api('DB02');
    const documentsAfter = await Promise.all(documentKinds.map(async (kind) => ok(await db02.documents(user.mailboxId, kind))));
    assert.deepEqual(documentsAfter, documentsBefore, 'account documents moved with their modseqs, states and destroyed history');
    const after = ok(await db02.commit({ mailboxId: user.mailboxId, expectDocuments: { identity: documentsBefore[0]!.modseqHighest }, ops: [{ op: 'setDocument', kind: 'identity', id: 'I2', value: {} }] }));
    assert.ok((after.results[0] as { modseq: number }).modseq > Math.max(...documentsBefore.map((d) => d.modseqHighest)), 'the target goes on past the source\'s modseqs');

    // Told to reconnect: IMAP BYE [UNAVAILABLE], POP3 -ERR [SYS/TEMP], the push stream ended.
    let line: string | null;
    do line = await idle.line();
    while (line !== null && !/^\* BYE \[UNAVAILABLE\]/.test(line));
    assert.notEqual(line, null, 'BYE [UNAVAILABLE] before the close');
    assert.equal(await idle.line(), null, 'closed after the BYE');
    assert.match(await pop.expectLine(), /^-ERR \[SYS\/TEMP\]/);
    await pop.closed();
    assert.match(await pushEnded, /: connected/);

    // The QRESYNC client reconnects (its login reaches DB02) with what it cached in DB01.
    const got = await python('resync', ...resync);
    assert.deepEqual(got, expected, 'the target answers the cached state exactly as the source did');
    assert.ok(got.fetch.length < got.exists, 'no full refetch');
    const cachedIds = new Map(cached.all.map((m) => [m.uid, [m.emailid, m.threadid]]));
    for (const m of got.all) if (cachedIds.has(m.uid)) assert.deepEqual([m.emailid, m.threadid], cachedIds.get(m.uid), `OBJECTIDs of UID ${m.uid}`);
    assert.equal(got.mailboxid, cached.mailboxid, 'MAILBOXID');

    // JMAP: a new sessionState (the client re-fetches the session), the same ids and Email state,
    // and changes since the old state are none.
    const jmapAfter = await jmap([['Email/get', { accountId: user.mailboxId, ids: [] }, '0'], ['Mailbox/get', { accountId: user.mailboxId, ids: null, properties: ['id', 'name'] }, '1'], ['Email/changes', { accountId: user.mailboxId, sinceState: jmapBefore.methodResponses[0]![1].state }, '2']]);
    assert.notEqual(jmapAfter.sessionState, jmapBefore.sessionState);
    assert.equal(jmapAfter.methodResponses[0]![1].state, jmapBefore.methodResponses[0]![1].state, 'Email state');
    assert.deepEqual(jmapAfter.methodResponses[1]![1].list, jmapBefore.methodResponses[1]![1].list, 'Mailbox ids');
    const changes = jmapAfter.methodResponses[2]![1];
    assert.deepEqual([changes.created, changes.updated, changes.destroyed], [[], [], []]);
  } finally {
    for (const session of sessions) session.close();
    await quire.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Everything a client can observe of a mailbox through the API, modseqs, ids and expunge history included. */
async function exactly(api: MailboxApi, mailboxId: string): Promise<unknown> {
  const info = ok(await api.mailbox(mailboxId));
  const folders = [];
  for (const folder of ok(await api.folders(mailboxId))) {
    const listing = ok(await api.listMessages(mailboxId, folder.name, { changedSince: 0, history: true }));
    folders.push({ ...folder, messages: listing.messages.map((m) => ({ ...m, flags: [...m.flags].sort() })), expunged: listing.expunged, expungedDroppedModseq: listing.expungedDroppedModseq });
  }
  return { modseqHighest: info.modseqHighest, quotaBytes: info.quotaBytes, usedBytes: info.usedBytes, folders };
}

test('LMTP deliveries and IMAP flag changes and expunges throughout a move: the target equals the source under the final lock, exactly', async (t) => {
  const quire = await startTestServer();
  try {
    const address = 'bob@example.org';
    const password = 'bob-pw-12345';
    await quire.addUser(address, password, { database: 'DB01' });
    const user = (await quire.server.directory.findUser(address))!;
    const db01 = quire.server.supervisor.api('DB01');
    const seed = begin(db01, user.mailboxId);
    for (let i = 1; i <= 200; i++) seed.append('INBOX', bytes(message(`seed-${i}`)), i % 2 === 0 ? ['\\Seen'] : []);
    ok(await seed.commit());
    ok(await begin(db01, user.mailboxId).add({ op: 'setAcl', folder: 'INBOX', identifier: 'alice@example.org', rights: 'lrs' }).commit());

    let paused = false;
    let stopping = false;
    const resumed: Array<() => void> = [];
    let parked = 0;
    const gate = async () => {
      while (paused) {
        parked += 1;
        await new Promise<void>((resolve) => resumed.push(resolve));
        parked -= 1;
      }
    };
    const delivered: string[] = [];
    const deliverer = (async () => {
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: quire.port('lmtp'), lmtp: true, secure: false, ignoreTLS: true } as Parameters<typeof nodemailer.createTransport>[0]);
      for (let n = 1; !stopping; n++) {
        await gate();
        const id = `lmtp-${n}`;
        try {
          // LMTP answers per recipient after DATA: nodemailer resolves and lists a 451 in `rejected`.
          const info = await transport.sendMail({ envelope: { from: 'carol@remote.test', to: [address] }, raw: message(id) });
          if (info.rejected.length > 0 || !info.accepted.includes(address)) throw new Error(`refused: ${info.response}`);
          delivered.push(id);
        } catch {
          n -= 1; // 451 during the lock: the same message again
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      transport.close();
    })();
    let flagged = 0;
    const flagger = (async () => {
      let client: ImapFlow | null = null;
      for (let n = 0; !stopping; n++) {
        await gate();
        try {
          if (client === null) {
            client = new ImapFlow({ host: '127.0.0.1', port: quire.port('imaps'), secure: true, tls: { ca: [quire.cert], servername: 'localhost' }, auth: { user: address, pass: password }, logger: false } as ConstructorParameters<typeof ImapFlow>[0]);
            client.on('error', () => undefined);
            await client.connect();
            await client.mailboxOpen('INBOX');
          }
          const uid = 1 + (n * 37) % 200;
          if (n % 9 === 8) await client.messageDelete(String(uid), { uid: true });
          else if (n % 2 === 0) await client.messageFlagsAdd(String(uid), ['\\Flagged', `$K${n % 5}`], { uid: true });
          else await client.messageFlagsRemove(String(uid), ['\\Flagged'], { uid: true });
          flagged += 1;
        } catch {
          // NO [INUSE] under the lock, or BYE at the switch: a new session, which reaches the new database
          await client?.logout().catch(() => undefined);
          client = null;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      await client?.logout().catch(() => undefined);
    })();

    let sourceUnderLock: unknown = null;
    quire.server.moves.observe(async () => {
      // Under the lock: the load finishes what it has in flight (refused, or admitted before the
      // lock and in the source) and waits, so nothing reaches the target before it is read below.
      paused = true;
      while (parked < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      sourceUnderLock = await exactly(db01, user.mailboxId);
    });
    while (delivered.length < 20 || flagged < 20) await new Promise((resolve) => setTimeout(resolve, 10));
    const started = await adminCall(quire.port('https'), quire.cert, quire.server.adminToken, 'POST', '/api/v1/moves', { address, to: 'DB02' });
    assert.equal(started.status, 201, started.text());
    const move = await waitMove(quire, started.json().id as string);
    const targetAfter = await exactly(quire.server.supervisor.api('DB02'), user.mailboxId);
    assert.ok(sourceUnderLock !== null);
    assert.deepEqual(targetAfter, sourceUnderLock);
    t.diagnostic(`final lock ${move.lockMs} ms, ${move.rounds} catch-up rounds, ${move.messagesCopied} messages copied, ${delivered.length} delivered and ${flagged} IMAP changes so far`);

    // The load goes on in the target; then every acknowledged delivery is there exactly once.
    paused = false;
    for (const resume of resumed.splice(0)) resume();
    const deliveredAtSwitch = delivered.length;
    while (delivered.length < deliveredAtSwitch + 5) await new Promise((resolve) => setTimeout(resolve, 10));
    stopping = true;
    await Promise.all([deliverer, flagger]);
    const db02 = quire.server.supervisor.api('DB02');
    const subjects = new Map<string, number>();
    for (const m of ok(await db02.listMessages(user.mailboxId, 'INBOX')).messages) {
      const subject = /Subject: (\S+)/.exec(Buffer.from(ok(await db02.readMessage(user.mailboxId, 'INBOX', m.uid))).toString('latin1'))![1]!;
      subjects.set(subject, (subjects.get(subject) ?? 0) + 1);
    }
    assert.deepEqual(delivered.filter((id) => subjects.get(id) !== 1).map((id) => [id, subjects.get(id) ?? 0]), [], 'each acknowledged delivery once');
    assert.deepEqual([...subjects].filter(([, n]) => n > 1), [], 'nothing twice');
  } finally {
    await quire.stop();
  }
});
