// Mailbox moves across restarts, with real `quire start` processes and the real `quire` command
// line: a move is listed with its state (`quire move list --json`) and can be cancelled before its
// switch (`quire move cancel`); a move survives its source database's worker being killed in the
// middle (it waits and re-synchronizes), and the server being killed (kill -9) in the middle (the
// restarted server resumes it). Each time the mailbox a client sees over IMAP (folders, UIDVALIDITY,
// UIDNEXT, HIGHESTMODSEQ, UIDs, flags, modseqs, EMAILIDs) is exactly what it was before. A worker
// is held (SIGSTOP) while a move starts, so the move is certainly unfinished when the blow falls.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import { nodeIsProcessAlive } from '../engine/directory/lock.js';
import { until } from '../test/until.js';

const bin = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));
const address = 'carol@example.org';
const password = 'carol-pw-1234';

function quire(dataDir: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args, '--data', dataDir], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json<T>(dataDir: string, ...args: string[]): T {
  const r = quire(dataDir, ...args, '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

interface Running {
  child: ChildProcess;
  output: () => string;
}

async function start(dataDir: string): Promise<Running> {
  rmSync(join(dataDir, 'server.json'), { force: true });
  // The log goes to a file, not a pipe: this test blocks in spawnSync (the CLI), and a server
  // writing to a full pipe nobody reads would block.
  const logFile = join(dataDir, `server-${Date.now()}.log`);
  const fd = openSync(logFile, 'w');
  const child = spawn(process.execPath, [bin, 'start', '--data', dataDir, '--port-offset', 'any'], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const output = () => readFileSync(logFile, 'utf8');
  await until(() => existsSync(join(dataDir, 'server.json')) || child.exitCode !== null, 'the server to start', 60_000);
  assert.equal(child.exitCode, null, output());
  return { child, output };
}

type Move = { id: string; address: string; from: string; to: string; state: string; retries?: number; lockMs?: number; messagesCopied: number; error?: string };

function activePid(dataDir: string, database: string): number {
  const copies = json<Array<{ database: string; role: string; pid: number }>>(dataDir, 'db', 'list');
  return copies.find((c) => c.database === database && c.role === 'active')!.pid;
}

function imapClient(dataDir: string): ImapFlow {
  const { ports } = JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { ports: { imaps: number } };
  const client = new ImapFlow({ host: '127.0.0.1', port: ports.imaps, secure: true, tls: { rejectUnauthorized: false }, auth: { user: address, pass: password }, logger: false } as ConstructorParameters<typeof ImapFlow>[0]);
  client.on('error', () => undefined);
  return client;
}

/** What an IMAP client sees of every folder. */
async function seen(dataDir: string): Promise<unknown> {
  const client = imapClient(dataDir);
  await client.connect();
  try {
    const folders: Record<string, unknown> = {};
    for (const folder of (await client.list()).map((f) => f.path).sort()) {
      const box = await client.mailboxOpen(folder, { readOnly: true });
      const messages = [];
      if (box.exists > 0) {
        for await (const m of client.fetch('1:*', { uid: true, flags: true, internalDate: true, size: true, emailId: true, threadId: true }, { changedSince: 1n })) {
          messages.push({ uid: m.uid, flags: [...(m.flags ?? [])].sort(), modseq: String(m.modseq), emailId: m.emailId, threadId: m.threadId, size: m.size, date: String(m.internalDate) });
        }
      }
      folders[folder] = { uidValidity: String(box.uidValidity), uidNext: box.uidNext, highestModseq: String(box.highestModseq), mailboxId: (box as { mailboxId?: string }).mailboxId, messages };
    }
    return folders;
  } finally {
    await client.logout().catch(() => undefined);
  }
}

async function waitMove(dataDir: string, id: string): Promise<Move> {
  let move: Move | undefined;
  await until(() => {
    move = json<Move[]>(dataDir, 'move', 'list').find((m) => m.id === id);
    return move !== undefined && ['done', 'cancelled', 'failed'].includes(move.state);
  }, `move ${id} to finish`, 60_000);
  return move!;
}

test('moves listed, cancelled, and surviving a killed source worker and a killed server (real quire processes)', { timeout: 240_000 }, async (t) => {
  const startedMs = Date.now();
  const phase = (name: string) => t.diagnostic(`${name}: ${Date.now() - startedMs} ms`);
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-move-restart-'));
  let server = await start(dataDir);
  const stopped: number[] = [];
  try {
    let r = quire(dataDir, 'user', 'add', address, '--password', password, '--database', 'DB01');
    assert.equal(r.status, 0, r.stderr);
    const client = imapClient(dataDir);
    await client.connect();
    await client.mailboxCreate('Projects');
    for (let i = 1; i <= 40; i++) {
      await client.append(i % 4 === 0 ? 'Projects' : 'INBOX', `From: a@example.org\r\nSubject: m${i}\r\n\r\n${'body '.repeat(200)}${i}\r\n`, i % 3 === 0 ? ['\\Seen'] : []);
    }
    await client.mailboxOpen('INBOX');
    await client.messageFlagsAdd('2:5', ['\\Flagged'], { uid: true });
    await client.messageDelete('7', { uid: true });
    await client.logout();
    const before = await seen(dataDir);
    phase('seeded');

    // Listed and cancelled before its switch: the target worker is held, so the move waits in its copy.
    const db02 = activePid(dataDir, 'DB02');
    process.kill(db02, 'SIGSTOP');
    stopped.push(db02);
    r = quire(dataDir, 'move', address, '--to', 'DB02', '--detach', '--json');
    assert.equal(r.status, 0, r.stderr);
    const cancelled = JSON.parse(r.stdout) as Move;
    const listed = json<Move[]>(dataDir, 'move', 'list');
    assert.deepEqual(listed.map((m) => [m.id, m.address, m.from, m.to, m.state]), [[cancelled.id, address, 'DB01', 'DB02', 'copying']]);
    r = quire(dataDir, 'move', 'cancel', cancelled.id);
    assert.equal(r.status, 0, r.stderr);
    process.kill(db02, 'SIGCONT');
    stopped.pop();
    assert.equal((await waitMove(dataDir, cancelled.id)).state, 'cancelled');
    assert.equal(json<Array<{ address: string; database: string }>>(dataDir, 'user', 'list').find((u) => u.address === address)!.database, 'DB01');
    assert.deepEqual(await seen(dataDir), before, 'a cancelled move changes nothing');
    phase('cancelled');

    // The source's worker dies in the middle of the move: the supervisor restarts it, the move waits and goes on.
    const db01 = activePid(dataDir, 'DB01');
    process.kill(db01, 'SIGSTOP');
    stopped.push(db01);
    r = quire(dataDir, 'move', address, '--to', 'DB02', '--detach', '--json');
    assert.equal(r.status, 0, r.stderr);
    const first = JSON.parse(r.stdout) as Move;
    process.kill(db01, 'SIGKILL');
    stopped.pop();
    const moved = await waitMove(dataDir, first.id);
    assert.equal(moved.state, 'done', moved.error);
    assert.ok((moved.retries ?? 0) >= 1, 'the move waited for the restarted worker');
    assert.ok(typeof moved.lockMs === 'number');
    assert.equal(json<Array<{ address: string; database: string }>>(dataDir, 'user', 'list').find((u) => u.address === address)!.database, 'DB02');
    assert.deepEqual(await seen(dataDir), before, 'after a move with a killed source worker');
    phase('moved with a killed worker');

    // The server is killed (kill -9) in the middle of the move back; the next start resumes it.
    const target = activePid(dataDir, 'DB01');
    const pids = json<Array<{ pid: number | null }>>(dataDir, 'db', 'list').map((c) => c.pid).filter((p): p is number => p !== null);
    process.kill(target, 'SIGSTOP');
    stopped.push(target);
    r = quire(dataDir, 'move', address, '--to', 'DB01', '--detach', '--json');
    assert.equal(r.status, 0, r.stderr);
    const second = JSON.parse(r.stdout) as Move;
    server.child.kill('SIGKILL');
    process.kill(target, 'SIGKILL');
    stopped.pop();
    await until(() => server.child.exitCode !== null || server.child.signalCode !== null, 'the server to die', 60_000);
    await until(() => pids.every((pid) => !nodeIsProcessAlive(pid)), 'the workers to notice and exit', 60_000);
    const saved = (JSON.parse(readFileSync(join(dataDir, 'moves.json'), 'utf8')) as { moves: Move[] }).moves.find((m) => m.id === second.id)!;
    assert.ok(['copying', 'catching-up'].includes(saved.state), `saved as ${saved.state}`);
    phase('killed');
    server = await start(dataDir);
    phase('restarted');
    const resumed = await waitMove(dataDir, second.id);
    assert.equal(resumed.state, 'done', resumed.error);
    await until(() => server.output().includes(`move ${second.id} of ${address}: resuming`), 'the resume line', 60_000);
    assert.equal(json<Array<{ address: string; database: string }>>(dataDir, 'user', 'list').find((u) => u.address === address)!.database, 'DB01');
    assert.deepEqual(await seen(dataDir), before, 'after a move resumed by a restarted server');
    assert.deepEqual(json<Move[]>(dataDir, 'move', 'list').map((m) => m.state), ['cancelled', 'done', 'done']);
    phase('resumed');

    // Without --detach, `quire move` shows the move's progress until it ends, and exits 0 when done.
    r = quire(dataDir, 'move', address, '--to', 'DB02');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, new RegExp(`^move \\S+ ${address} DB01 → DB02: copying, 0 messages copied of 0, 0 catch-up rounds$`));
    assert.match(lines.at(-1)!, new RegExp(`^move \\S+ ${address} DB01 → DB02: done, 39 messages copied of 39, 0 catch-up rounds, writes held \\d+ ms, 0 sessions told to reconnect$`));
    assert.deepEqual(await seen(dataDir), before, 'after a move followed on the command line');
    phase('followed');
  } finally {
    for (const pid of stopped) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    server.child.kill('SIGTERM');
    await new Promise((resolve) => (server.child.exitCode !== null || server.child.signalCode !== null ? resolve(null) : server.child.once('exit', resolve)));
    rmSync(dataDir, { recursive: true, force: true });
  }
});
