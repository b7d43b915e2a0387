// Proves a two-way mbsync (isync, installed through the services provisioning or failing
// loudly) against the IMAP front end over TLS: a few hundred messages in folders with flags go
// to a local Maildir, a local folder and local flag changes come back, server-side flag changes
// go down, and a final re-sync changes nothing on either side.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { aptInstall, commandExists } from '../../scripts/services/runner.js';
import { startTestServer, type TestServer } from '../../test/harness.js';
import { RawImap, type Reply } from './testing.js';

const run = promisify(execFile);
let server: TestServer;
let dir: string;
const user = { address: 'mbsync@example.org', password: 'mbsync-pw' };
const inboxMessages = 200;
const projectMessages = 100;
const localMessages = 20;

before(async () => {
  if (!commandExists('mbsync')) aptInstall('isync', ['isync']);
  assert.ok(commandExists('mbsync'), 'mbsync must be installed (apt-get install isync)');
  server = await startTestServer();
  await server.addUser(user.address, user.password);
  dir = mkdtempSync(join(tmpdir(), 'quire-mbsync-'));
});

after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function ok(r: Reply): Reply {
  assert.match(r.tagged, /^\S+ OK/, r.raw);
  return r;
}

async function login(): Promise<RawImap> {
  const c = await RawImap.connect(server.port('imaps'), { tls: true, ca: server.cert });
  await c.line();
  ok(await c.command(`LOGIN ${user.address} ${user.password}`));
  return c;
}

const message = (folder: string, n: number): string =>
  `From: sender${n % 7}@example.org\r\nTo: ${user.address}\r\nSubject: ${folder} message ${n}\r\nMessage-ID: <${folder}-${n}@example.org>\r\nDate: Tue, 3 Jan 2023 10:00:00 +0000\r\n\r\nBody of ${folder} message ${n}.\r\n`;

/** MULTIAPPEND in batches; every third message \Seen, every tenth \Flagged. */
async function fill(c: RawImap, folder: string, count: number): Promise<void> {
  for (let start = 0; start < count; start += 50) {
    const parts: string[] = [];
    for (let n = start; n < Math.min(count, start + 50); n++) {
      const flags = [n % 3 === 0 ? '\\Seen' : '', n % 10 === 0 ? '\\Flagged' : ''].filter((f) => f !== '').join(' ');
      const m = message(folder, n);
      parts.push(`(${flags}) {${m.length}+}\r\n${m}`);
    }
    ok(await c.command(`APPEND ${folder} ${parts.join(' ')}`));
  }
}

interface ServerState {
  [folder: string]: { messages: number; uidNext: number; unseen: number; modseq: number; flagged: number };
}

async function serverState(c: RawImap, folders: string[]): Promise<ServerState> {
  const state: ServerState = {};
  for (const folder of folders) {
    const r = ok(await c.command(`STATUS ${folder} (MESSAGES UIDNEXT UNSEEN HIGHESTMODSEQ)`));
    const line = r.untagged[0]!;
    const get = (name: string): number => Number(line.match(new RegExp(`${name} (\\d+)`))![1]);
    ok(await c.command(`EXAMINE ${folder}`));
    const flagged = ok(await c.command('SEARCH FLAGGED')).untagged[0]!.split(' ').length - 2;
    state[folder] = { messages: get('MESSAGES'), uidNext: get('UIDNEXT'), unseen: get('UNSEEN'), modseq: get('HIGHESTMODSEQ'), flagged };
  }
  return state;
}

/** Maildir file names of a folder (cur and new), sorted. */
function maildir(folder: string): string[] {
  const base = join(dir, 'mail', folder);
  return ['cur', 'new'].flatMap((sub) => readdirSync(join(base, sub)).map((f) => `${sub}/${f}`)).sort();
}

async function mbsync(config: string): Promise<string> {
  const { stdout, stderr } = await run('mbsync', ['-c', config, '-a'], { maxBuffer: 16 * 1024 * 1024 });
  return stdout + stderr;
}

test('mbsync: two-way sync of a few hundred messages with folders and flags, then a re-sync that changes nothing', async () => {
  const c = await login();
  ok(await c.command('CREATE Projects'));
  await fill(c, 'INBOX', inboxMessages);
  await fill(c, 'Projects', projectMessages);

  // A local folder that exists only on the near side.
  const local = join(dir, 'mail', 'Local');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(local, sub), { recursive: true });
  for (let n = 0; n < localMessages; n++) writeFileSync(join(local, 'cur', `${1700000000 + n}.${n}_0.local:2,${n % 2 === 0 ? 'S' : ''}`), message('Local', n));

  const certFile = join(dir, 'cert.pem');
  writeFileSync(certFile, server.cert);
  const config = join(dir, 'mbsyncrc');
  writeFileSync(
    config,
    [
      'IMAPAccount quire',
      'Host localhost',
      `Port ${server.port('imaps')}`,
      `User ${user.address}`,
      `Pass ${user.password}`,
      'SSLType IMAPS',
      `CertificateFile ${certFile}`,
      '',
      'IMAPStore remote',
      'Account quire',
      '',
      'MaildirStore local',
      `Path ${join(dir, 'mail')}/`,
      `Inbox ${join(dir, 'mail', 'INBOX')}`,
      'SubFolders Verbatim',
      '',
      'Channel all',
      'Far :remote:',
      'Near :local:',
      'Patterns *',
      'Create Both',
      'Expunge Both',
      'SyncState *',
      'Sync All',
      '',
    ].join('\n'),
  );

  await mbsync(config);
  assert.equal(maildir('INBOX').length, inboxMessages);
  assert.equal(maildir('Projects').length, projectMessages);
  const seenDown = maildir('INBOX').filter((f) => /:2,[A-Z]*S/.test(f)).length;
  assert.equal(seenDown, Math.ceil(inboxMessages / 3), '\\Seen became the S flag');
  let state = await serverState(c, ['INBOX', 'Projects', 'Local']);
  assert.equal(state['Local']!.messages, localMessages, 'the local folder went up');
  assert.equal(state['Local']!.unseen, localMessages / 2);

  // Changes on both sides: flag some local messages, flag some on the server.
  const near = maildir('Projects').filter((f) => /:2,$/.test(f)).slice(0, 5);
  for (const f of near) renameSync(join(dir, 'mail', 'Projects', f), join(dir, 'mail', 'Projects', f.replace(/^new\//, 'cur/').replace(/(:2,)?$/, ':2,F')));
  ok(await c.command('SELECT INBOX'));
  ok(await c.command('STORE 2:4 +FLAGS (\\Flagged)'));
  const flaggedBefore = { projects: state['Projects']!.flagged, inbox: state['INBOX']!.flagged };
  await mbsync(config);
  state = await serverState(c, ['INBOX', 'Projects', 'Local']);
  assert.equal(state['Projects']!.flagged, flaggedBefore.projects + near.length, 'local flags went up');
  assert.equal(maildir('INBOX').filter((f) => /:2,[A-Z]*F/.test(f)).length, flaggedBefore.inbox + 3, 'server flags came down');

  // A re-sync now changes nothing: same server numbers (modseq included), same local files.
  const files = { inbox: maildir('INBOX'), projects: maildir('Projects'), local: maildir('Local') };
  await mbsync(config);
  assert.deepEqual(await serverState(c, ['INBOX', 'Projects', 'Local']), state);
  assert.deepEqual({ inbox: maildir('INBOX'), projects: maildir('Projects'), local: maildir('Local') }, files);
  ok(await c.command('LOGOUT'));
  c.close();
});
