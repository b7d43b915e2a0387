// Proves public folders and the ACL extension (RFC 4314) over real sockets against a real
// server: the shared namespaces in NAMESPACE, public folders listed, selected and appended to
// per each user's role (reviewer, author, editor, owner, none), rights enforced on SELECT vs
// EXAMINE, FETCH's implicit \Seen, STORE (\Seen, \Deleted, other flags), APPEND, EXPUNGE, CLOSE, MOVE, STATUS, RENAME,
// CREATE, DELETE and COPY; GETACL/SETACL/DELETEACL/LISTRIGHTS/MYRIGHTS on public folders and
// on a user's own folder shared to another user (listed and opened under "Other Users/"), by a raw client, imapflow
// and Python's imaplib.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { startTestServer, type TestServer } from '../../test/harness.js';
import { RawImap } from './testing.js';

const run = promisify(execFile);
let server: TestServer;
let dir: string;
const users = ['reviewer', 'author', 'editor', 'owner', 'nobody', 'stranger'] as const;
const address = (user: string): string => `${user}@example.org`;
const message = (subject: string): string => `From: a@example.org\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n`;

before(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'quire-acl-'));
  for (const user of users) await server.addUser(address(user), `${user}-pw`);
  const pf = server.server.publicFolders;
  const must = (r: { ok: boolean; message?: string }): void => assert.ok(r.ok, r.message);
  must(await pf.add('Sales'));
  for (const [user, role] of [['reviewer', 'reviewer'], ['author', 'author'], ['editor', 'editor'], ['owner', 'owner'], ['nobody', 'none']] as const) {
    must(await pf.setPermission('Sales', address(user), role));
  }
  // Default (anyone) gets nothing here: a user without an entry does not see the folder.
  must(await pf.setPermission('Sales', 'anyone', null));
  // A subfolder in the other database takes Sales's ACL.
  must(await pf.add('Sales/EMEA', 'DB02'));
  must(await pf.add('Notices'));
  must(await pf.setPermission('Notices', 'anyone', 'reviewer'));
  must(await pf.setPermission('Notices', address('owner'), 'owner'));
});

after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function login(user: string): Promise<RawImap> {
  const c = await RawImap.connect(server.port('imaps'), { tls: true, ca: server.cert });
  await c.line();
  const r = await c.command(`LOGIN ${address(user)} ${user}-pw`);
  assert.match(r.tagged, /OK/);
  return c;
}

test('NAMESPACE and CAPABILITY name the shared namespaces and the ACL extension', async () => {
  const c = await login('reviewer');
  try {
    const ns = await c.command('NAMESPACE');
    assert.deepEqual(ns.untagged, ['* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Public Folders/" "/"))']);
    const caps = await c.command('CAPABILITY');
    assert.match(caps.untagged[0]!, / ACL RIGHTS=texk /);
  } finally {
    c.close();
  }
});

test('each role sees, reads and changes a public folder as far as its rights go', async () => {
  const owner = await login('owner');
  const reviewer = await login('reviewer');
  const author = await login('author');
  const editor = await login('editor');
  const nobody = await login('nobody');
  const stranger = await login('stranger');
  try {
    // An owner appends two messages.
    for (const subject of ['one', 'two']) {
      const m = message(subject);
      const r = await owner.command(`APPEND "Public Folders/Sales" {${m.length}+}\r\n${m}`);
      assert.match(r.tagged, /OK \[APPENDUID \d+ \d+\]/);
    }

    // LIST: what each may see.
    const listed = async (c: RawImap): Promise<string[]> => (await c.command('LIST "" "Public Folders/*"')).untagged;
    assert.deepEqual(await listed(reviewer), [
      '* LIST (\\HasNoChildren) "/" "Public Folders/Notices"',
      '* LIST (\\HasChildren) "/" "Public Folders/Sales"',
      '* LIST (\\HasNoChildren) "/" "Public Folders/Sales/EMEA"',
    ]);
    assert.ok((await listed(nobody)).includes('* LIST (\\Noselect \\HasChildren) "/" "Public Folders/Sales"'), 'none: visible, not selectable');
    assert.deepEqual(await listed(stranger), ['* LIST (\\HasNoChildren) "/" "Public Folders/Notices"'], 'no entry and no Default: not seen');
    const top = await reviewer.command('LIST "" "%"');
    assert.ok(top.untagged.includes('* LIST (\\Noselect \\HasChildren) "/" "Public Folders"'), top.raw);

    // reviewer (lr): SELECT is read-only; a body fetch leaves \Seen alone; STORE and APPEND refused.
    let r = await reviewer.command('SELECT "Public Folders/Sales"');
    assert.match(r.tagged, /OK \[READ-ONLY\]/);
    assert.ok(r.untagged.includes('* 2 EXISTS'));
    assert.ok(r.untagged.includes('* OK [PERMANENTFLAGS ()] Flags permitted'));
    r = await reviewer.command('FETCH 1 (BODY[TEXT])');
    assert.match(r.raw, /body of one/);
    assert.doesNotMatch(r.raw, /\\Seen/);
    assert.match((await reviewer.command('STORE 1 +FLAGS (\\Seen)')).tagged, /NO \[READ-ONLY\]/);
    const m = message('denied');
    assert.match((await reviewer.command(`APPEND "Public Folders/Sales" {${m.length}+}\r\n${m}`)).tagged, /NO \[NOPERM\]/);
    assert.match((await reviewer.command('MYRIGHTS "Public Folders/Sales"')).untagged[0]!, /^\* MYRIGHTS "Public Folders\/Sales" lr$/);
    assert.match((await reviewer.command('GETACL "Public Folders/Sales"')).tagged, /NO \[NOPERM\]/);

    // author (lrip): may add mail, not flag or delete it.
    const a = message('from author');
    assert.match((await author.command(`APPEND "Public Folders/Sales" (\\Seen \\Deleted) {${a.length}+}\r\n${a}`)).tagged, /OK/);
    r = await author.command('SELECT "Public Folders/Sales"');
    assert.match(r.tagged, /OK \[READ-ONLY\]/, 'nothing an author may change in place');
    r = await author.command('FETCH 3 (FLAGS)');
    assert.match(r.untagged[0]!, /FLAGS \(\)/, 'flags the author may not set were left off the APPEND');
    assert.match((await author.command('DELETE "Public Folders/Sales"')).tagged, /NO \[NOPERM\]/);

    // editor (lrswipte): read-write; \Seen, \Deleted and keywords; EXPUNGE; no folder rights.
    r = await editor.command('SELECT "Public Folders/Sales"');
    assert.match(r.tagged, /OK \[READ-WRITE\]/);
    assert.ok(r.untagged.some((l) => l.startsWith('* OK [PERMANENTFLAGS (') && l.includes('\\Seen') && l.includes('\\*')));
    r = await editor.command('FETCH 1 (BODY[TEXT])');
    assert.match(r.raw, /\\Seen/, 'an editor keeps \\Seen');
    assert.match((await editor.command('STORE 2 +FLAGS ($Done \\Deleted)')).tagged, /OK/);
    r = await editor.command('EXPUNGE');
    assert.ok(r.untagged.includes('* 2 EXPUNGE'), r.raw);
    assert.match((await editor.command('CREATE "Public Folders/Sales/Sub"')).tagged, /NO \[NOPERM\]/);
    // The reviewer's view learns of the editor's change.
    r = await reviewer.command('NOOP');
    assert.ok(r.untagged.includes('* 2 EXPUNGE'), r.raw);

    // nobody (l): sees it, may not select it; a stranger does not even learn it exists.
    assert.match((await nobody.command('EXAMINE "Public Folders/Sales"')).tagged, /NO \[NOPERM\]/);
    assert.match((await stranger.command('EXAMINE "Public Folders/Sales"')).tagged, /NO \[NONEXISTENT\]/);
    assert.match((await stranger.command('STATUS "Public Folders/Notices" (MESSAGES)')).untagged[0]!, /MESSAGES 0/);

    // owner: GETACL, SETACL (+/- and the obsolete d), LISTRIGHTS, CREATE and DELETE below.
    r = await owner.command('GETACL "Public Folders/Sales"');
    assert.match(r.untagged[0]!, /^\* ACL "Public Folders\/Sales" anonymous p author@example\.org lrip editor@example\.org lrswipted nobody@example\.org l owner@example\.org lrswipkxteacd reviewer@example\.org lr$/);
    assert.match((await owner.command('SETACL "Public Folders/Sales" stranger@example.org lrQ')).tagged, /BAD/);
    assert.match((await owner.command('SETACL "Public Folders/Sales" nosuchuser@example.org lr')).tagged, /NO/);
    assert.match((await owner.command('SETACL "Public Folders/Sales" stranger@example.org lr')).tagged, /OK/);
    assert.match((await owner.command('SETACL "Public Folders/Sales" stranger@example.org +d')).tagged, /OK/);
    assert.match((await stranger.command('MYRIGHTS "Public Folders/Sales"')).untagged[0]!, / lrxted$/);
    assert.match((await owner.command('SETACL "Public Folders/Sales" stranger@example.org -xte')).tagged, /OK/);
    assert.match((await stranger.command('MYRIGHTS "Public Folders/Sales"')).untagged[0]!, / lr$/);
    assert.match((await owner.command('DELETEACL "Public Folders/Sales" stranger@example.org')).tagged, /OK/);
    assert.match((await stranger.command('MYRIGHTS "Public Folders/Sales"')).tagged, /NO \[NONEXISTENT\]/);
    assert.equal((await owner.command('LISTRIGHTS "Public Folders/Sales" reviewer@example.org')).untagged[0], '* LISTRIGHTS "Public Folders/Sales" reviewer@example.org "" l r s w i p k x t e a');
    assert.match((await owner.command('CREATE "Public Folders/Sales/Sub"')).tagged, /OK/);
    assert.match((await reviewer.command('MYRIGHTS "Public Folders/Sales/Sub"')).untagged[0]!, / lr$/, 'the new subfolder took its parent\'s ACL');
    assert.match((await owner.command('DELETE "Public Folders/Sales/Sub"')).tagged, /OK/);
    assert.match((await owner.command('CREATE "Public Folders/TopLevel"')).tagged, /NO \[NOPERM\]/);

    // COPY from a user's own INBOX into a public folder: needs i there; COPYUID names the new UIDs.
    const own = message('own');
    await owner.command(`APPEND INBOX {${own.length}+}\r\n${own}`);
    await owner.command('SELECT INBOX');
    r = await owner.command('COPY 1 "Public Folders/Sales"');
    assert.match(r.tagged, /OK \[COPYUID \d+ 1 4\]/);
    await reviewer.command('SELECT INBOX');
    await reviewer.command(`APPEND INBOX {${own.length}+}\r\n${own}`);
    assert.match((await reviewer.command('COPY 1 "Public Folders/Sales"')).tagged, /NO \[NOPERM\]/);
  } finally {
    for (const c of [owner, reviewer, author, editor, nobody, stranger]) c.close();
  }
});

test('a user shares a personal folder with another; it shows under Other Users/', async () => {
  const owner = await login('editor');
  const other = await login('author');
  try {
    const m = message('shared note');
    await owner.command(`APPEND Archive {${m.length}+}\r\n${m}`);
    const shared = '"Other Users/editor@example.org/Archive"';
    assert.match((await other.command(`EXAMINE ${shared}`)).tagged, /NO \[NONEXISTENT\]/);
    assert.match((await owner.command('SETACL Archive author@example.org lrs')).tagged, /OK/);
    assert.equal((await owner.command('GETACL Archive')).untagged[0], '* ACL Archive editor@example.org lrswipkxteacd author@example.org lrs');
    assert.match((await owner.command('SETACL Archive editor@example.org l')).tagged, /NO \[CANNOT\]/, "the owner's own rights stay");
    assert.equal((await owner.command('MYRIGHTS INBOX')).untagged[0], '* MYRIGHTS INBOX lrswipkxteacd');
    const listed = await other.command('LIST "" "Other Users/*"');
    assert.ok(listed.untagged.includes('* LIST (\\HasNoChildren) "/" "Other Users/editor@example.org/Archive"'), listed.raw);
    assert.ok(listed.untagged.includes('* LIST (\\Noselect \\HasChildren) "/" "Other Users/editor@example.org"'), listed.raw);
    let r = await other.command(`SELECT ${shared}`);
    assert.match(r.tagged, /OK \[READ-WRITE\]/, 's alone makes it read-write (for \\Seen)');
    r = await other.command('FETCH 1 (FLAGS BODY[TEXT])');
    assert.match(r.raw, /body of shared note/);
    assert.match(r.raw, /\\Seen/);
    assert.match((await other.command('STORE 1 +FLAGS (\\Flagged)')).tagged, /OK/);
    r = await other.command('FETCH 1 (FLAGS)');
    assert.doesNotMatch(r.raw, /Flagged/, 'a flag needing w was left alone');
    assert.match((await owner.command('DELETEACL Archive author@example.org')).tagged, /OK/);
    assert.match((await other.command(`STATUS ${shared} (MESSAGES)`)).tagged, /NO \[NONEXISTENT\]/);
    assert.deepEqual((await other.command('LIST "" "Other Users/*"')).untagged, [], 'no longer shared: no longer listed');
  } finally {
    owner.close();
    other.close();
  }
});

test('each command checks its own right: STATUS r, FETCH\'s \\Seen s, EXPUNGE and CLOSE e, MOVE t and e, RENAME x', async () => {
  const owner = await login('owner');
  const writer = await login('stranger');
  const looker = await login('nobody');
  try {
    for (const flags of ['(\\Deleted) ', '']) {
      const m = message('junk');
      assert.match((await owner.command(`APPEND Junk ${flags}{${m.length}+}\r\n${m}`)).tagged, /OK/);
    }
    // w and k without s, t, e or x: read-write, yet none of those changes happen.
    assert.match((await owner.command('SETACL Junk stranger@example.org lrwk')).tagged, /OK/);
    assert.match((await owner.command('CREATE Junk/Sub')).tagged, /OK/);
    assert.match((await owner.command('SETACL Junk/Sub stranger@example.org lr')).tagged, /OK/);
    assert.match((await owner.command('SETACL Junk nobody@example.org l')).tagged, /OK/);
    const shared = '"Other Users/owner@example.org/Junk"';
    assert.match((await looker.command(`STATUS ${shared} (MESSAGES)`)).tagged, /NO \[NOPERM\]/, 'l alone: no STATUS');
    assert.match((await writer.command(`SELECT ${shared}`)).tagged, /OK \[READ-WRITE\]/);
    let r = await writer.command('FETCH 2 (BODY[TEXT])');
    assert.match(r.raw, /body of junk/);
    assert.doesNotMatch(r.raw, /\\Seen/, 'no s: a body fetch leaves \\Seen alone');
    assert.doesNotMatch((await writer.command('FETCH 2 (FLAGS)')).raw, /\\Seen/);
    assert.match((await writer.command('EXPUNGE')).tagged, /NO \[NOPERM\]/, 'no e: no EXPUNGE');
    assert.match((await writer.command('MOVE 1 INBOX')).tagged, /NO \[NOPERM\]/, 'no t or e: no MOVE out');
    assert.match((await writer.command('RENAME "Other Users/owner@example.org/Junk/Sub" "Other Users/owner@example.org/Junk/Sub2"')).tagged, /NO \[NOPERM\]/, 'k on the parent, no x: no RENAME');
    assert.match((await writer.command('CLOSE')).tagged, /OK/);
    r = await owner.command('STATUS Junk (MESSAGES UNSEEN)');
    assert.deepEqual(r.untagged, ['* STATUS Junk (MESSAGES 2 UNSEEN 2)'], 'no e: CLOSE expunged nothing; \\Seen was not set');
  } finally {
    for (const c of [owner, writer, looker]) c.close();
  }
});

test('imapflow and Python imaplib speak the shared namespace and ACL commands', async () => {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port: server.port('imaps'),
    secure: true,
    tls: { ca: [server.cert], servername: 'localhost' },
    auth: { user: address('owner'), pass: 'owner-pw' },
    logger: false,
  } as ConstructorParameters<typeof ImapFlow>[0]);
  await c.connect();
  try {
    const ns = (c as unknown as { namespaces: Record<string, Array<{ prefix: string }> | false> }).namespaces;
    assert.equal((ns['shared'] as Array<{ prefix: string }>)[0]!.prefix, 'Public Folders/');
    const folders = await c.list();
    assert.ok(folders.some((f) => f.path === 'Public Folders/Notices'), folders.map((f) => f.path).join(','));
    await c.append('Public Folders/Notices', message('notice'));
    const lock = await c.getMailboxLock('Public Folders/Notices');
    try {
      const fetched = await c.fetchOne('*', { envelope: true });
      assert.equal(fetched && fetched.envelope?.subject, 'notice');
    } finally {
      lock.release();
    }
  } finally {
    await c.logout();
  }

  const certFile = join(dir, 'cert.pem');
  writeFileSync(certFile, server.cert);
  const script = join(dir, 'acl.py');
  writeFileSync(
    script,
    `
import imaplib, json, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
m = imaplib.IMAP4_SSL('localhost', int(sys.argv[1]), ssl_context=ctx)
m.login('owner@example.org', 'owner-pw')
out = {}
out['namespace'] = m.namespace()[1][0].decode()
out['setacl'] = m.setacl('"Public Folders/Notices"', 'editor@example.org', 'lrswipte')[0]
out['getacl'] = m.getacl('"Public Folders/Notices"')[1][0].decode()
out['myrights'] = m.myrights('"Public Folders/Notices"')[1][0].decode()
out['deleteacl'] = m.deleteacl('"Public Folders/Notices"', 'editor@example.org')[0]
typ, data = m.select('"Public Folders/Notices"', readonly=True)
out['select'] = [typ, data[0].decode()]
m.logout()
print(json.dumps(out))
`,
  );
  const { stdout } = await run('python3', [script, String(server.port('imaps')), certFile]);
  const out = JSON.parse(stdout) as Record<string, unknown>;
  assert.equal(out['namespace'], '(("" "/")) (("Other Users/" "/")) (("Public Folders/" "/"))');
  assert.equal(out['setacl'], 'OK');
  assert.match(out['getacl'] as string, /editor@example\.org lrswipted/);
  assert.match(out['myrights'] as string, / lrswipkxteacd$/);
  assert.equal(out['deleteacl'], 'OK');
  assert.deepEqual(out['select'], ['OK', '1']);
});
