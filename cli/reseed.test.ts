// Reseed, lagged copies and the low-disk guard end to end: real `quire start` processes, the
// real `quire` command line, imapflow and nodemailer. A reseed is interrupted by kill -9 of the
// whole server and, after a restart, goes on from the files it had copied and verified; a lagged
// copy set with `quire db set-lag` receives at once, replays late, and `quire db playforward`
// replays it; with `--disk-free-min` above the disk's free space, IMAP APPEND answers
// NO [LIMIT] and SMTP 452 4.3.1, and nothing is lost.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';

const bin = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));

function quire(dataDir: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args, '--data', dataDir], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function copy2(dataDir: string): Record<string, any> {
  const r = quire(dataDir, 'db', 'list', '--json');
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as Array<Record<string, any>>).find((c) => c.database === 'DB01' && c.copy === 2)!;
}

async function until(fn: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

interface Running {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly ports: Record<string, number>;
}

async function start(dataDir: string, ...extra: string[]): Promise<Running> {
  rmSync(join(dataDir, 'server.json'), { force: true });
  const child = spawn(process.execPath, [bin, 'start', '--data', dataDir, '--port-offset', 'any', '--durability', 'sync', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await until(() => existsSync(join(dataDir, 'server.json')) || child.exitCode !== null, 60_000, 'the server to start');
  assert.equal(child.exitCode, null, output);
  const ports = (JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { ports: Record<string, number> }).ports;
  return { child, output: () => output, ports };
}

async function stop(server: Running, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) {
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill(signal);
    await exited;
  }
}

function imap(server: Running, user: string, pass: string): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port: server.ports.imaps!, secure: true, tls: { rejectUnauthorized: false }, auth: { user, pass }, logger: false } as ConstructorParameters<typeof ImapFlow>[0]);
}

const message = (i: number, bytes: number): Buffer =>
  Buffer.from(`From: a@example.org\r\nTo: big@example.org\r\nSubject: m${i}\r\n\r\n${randomBytes(bytes).toString('base64').replace(/(.{76})/g, '$1\r\n')}\r\n`);

test('quire db reseed survives kill -9 of the server; set-lag / playforward; the low-disk guard answers IMAP and SMTP', { timeout: 240_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-reseed-cli-'));
  let server = await start(dataDir);
  const password = 'a-long-password-1';
  try {
    let r = quire(dataDir, 'user', 'add', 'big@example.org', '--password', password);
    assert.equal(r.status, 0, r.stderr);
    let client = imap(server, 'big@example.org', password);
    await client.connect();
    for (let i = 0; i < 16; i++) await client.append('INBOX', message(i, 100_000));
    await client.logout();
    await until(() => copy2(dataDir).state === 'Healthy' && copy2(dataDir).copyQueueLength === 0, 30_000, 'the passive copy current');

    // A throttled reseed, interrupted by kill -9 of the whole server once it has copied some.
    const reseed = spawn(process.execPath, [bin, 'db', 'reseed', 'DB01', '--copy', 'MBX1#2', '--max-rate', '256K', '--data', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let bar = '';
    reseed.stderr!.on('data', (chunk: Buffer) => (bar += chunk.toString()));
    await until(() => {
      const c = copy2(dataDir);
      return c.state === 'Seeding' && c.seedBytesCopied > 0 && c.seedBytesCopied < c.seedBytesTotal;
    }, 30_000, 'the reseed to be under way');
    const seeding = copy2(dataDir);
    assert.ok(seeding.seedBytesTotal > 2 * 1024 * 1024, `the snapshot holds the mailbox (${seeding.seedBytesTotal} bytes)`);
    const table = quire(dataDir, 'db', 'list');
    assert.match(table.stdout, /Seeding .*\d+% [\d.]+\/[\d.]+ MiB [\d.]+ MiB\/s/, table.stdout);
    await until(() => /\d+% [\d.]+ \/ [\d.]+ MiB [\d.]+ MiB\/s/.test(bar), 10_000, 'the progress bar');
    await stop(server, 'SIGKILL');
    await new Promise((resolve) => (reseed.exitCode !== null ? resolve(null) : reseed.once('exit', resolve)));
    assert.notEqual(reseed.exitCode, 0, 'the CLI reports the lost server');
    assert.ok(existsSync(join(dataDir, 'databases', 'DB01', 'MBX1-2.seeding', 'seed.json')), 'the staged files stay for the next reseed');

    // After the restart, the next reseed goes on from what was copied and verified.
    server = await start(dataDir);
    const db01 = (): Array<Record<string, any>> => (JSON.parse(quire(dataDir, 'db', 'list', '--json').stdout) as Array<Record<string, any>>).filter((c) => c.database === 'DB01');
    await until(() => {
      const copies = db01();
      return copies.some((c) => c.role === 'active' && c.state === 'Mounted') && copies.some((c) => c.copy === 2 && ['Healthy', 'Failed'].includes(c.state));
    }, 60_000, 'the copies to come back');
    r = quire(dataDir, 'db', 'reseed', 'DB01', '--copy', 'MBX1#2');
    assert.equal(r.status, 0, `${r.stderr}\n${JSON.stringify(db01())}\n${server.output()}`);
    assert.match(r.stderr, /100% /);
    assert.match(r.stdout, /reseeded DB01 on MBX1#2: a [\d.]+ MiB snapshot copied and verified/);
    const seeded = /MBX1#2: seeded (\d+) bytes \((\d+) copied, (\d+) kept from an interrupted reseed, all verified\)/;
    // spawnSync held this process's event loop: the server's lines arrive now.
    await until(() => seeded.test(server.output()), 10_000, `the seeded line in ${server.output()}`);
    const kept = seeded.exec(server.output())!;
    assert.ok(Number(kept[3]) >= 64 * 1024, `the second reseed kept what the first copied (${kept[0]})`);
    await until(() => {
      const c = copy2(dataDir);
      return c.state === 'Healthy' && c.copyQueueLength === 0 && c.replayQueueLength === 0;
    }, 30_000, 'the reseeded copy current');

    // A lagged copy: receives at once, replays late, plays forward on demand.
    r = quire(dataDir, 'db', 'set-lag', 'DB01', '--copy', 'MBX1#2', '--replay-lag', '1h', '--truncation-lag', '2h');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /replay lag 3600000 ms, truncation lag 7200000 ms \(role lagged\)/);
    client = imap(server, 'big@example.org', password);
    await client.connect();
    for (let i = 0; i < 3; i++) await client.append('INBOX', message(100 + i, 1_000));
    await client.logout();
    await until(() => copy2(dataDir).copyQueueLength === 0 && copy2(dataDir).replayQueueLength > 0, 30_000, 'the lagged copy to receive');
    const lagged = copy2(dataDir);
    assert.equal(lagged.role, 'lagged');
    assert.equal(lagged.replayLagTimeMs, 3_600_000);
    assert.match(quire(dataDir, 'db', 'list').stdout, /DB01 +MBX1 +2 +lagged +Healthy/);
    r = quire(dataDir, 'db', 'playforward', 'DB01', '--copy', 'MBX1#2');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /played forward: replayed to \d+, log at \d+, replay queue 0 bytes/);
    r = quire(dataDir, 'db', 'playforward', 'DB01', '--copy', 'MBX1#2', '--to', 'yesterday');
    assert.equal(r.status, 2, 'a --to that is neither a position nor a time is a usage error');
    r = quire(dataDir, 'db', 'set-lag', 'DB01', '--copy', 'MBX1#2', '--replay-lag', '10 minutes');
    assert.equal(r.status, 2);
    await stop(server);

    // The low-disk guard: a reserve larger than the disk's free space holds every write.
    server = await start(dataDir, '--disk-free-min', '1000T');
    client = imap(server, 'big@example.org', password);
    await client.connect();
    await assert.rejects(client.append('INBOX', message(200, 100)), (error: Error & { serverResponseCode?: string; response?: string }) => {
      assert.match(`${error.serverResponseCode ?? ''} ${error.response ?? error.message}`, /LIMIT|low disk/, String(error.response ?? error.message));
      return true;
    });
    const status = await client.status('INBOX', { messages: true });
    assert.equal(status && status.messages, 19, 'nothing lost, nothing half-written');
    await client.logout();
    const mx = nodemailer.createTransport({ host: '127.0.0.1', port: server.ports.smtp!, secure: false, ignoreTLS: true, name: 'mail.example.net' });
    await assert.rejects(mx.sendMail({ from: 'x@example.net', to: 'big@example.org', subject: 'low disk', text: 'hello' }), (error: Error & { responseCode?: number; response?: string }) => {
      assert.equal(error.responseCode, 452, error.response);
      assert.match(error.response ?? '', /4\.3\.1/);
      return true;
    });
    const copies = JSON.parse(quire(dataDir, 'db', 'list', '--json').stdout) as Array<Record<string, any>>;
    assert.ok(copies.filter((c) => c.database === 'DB01').every((c) => c.lowDisk === true && typeof c.diskFreeBytes === 'number'), JSON.stringify(copies));
  } finally {
    await stop(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
