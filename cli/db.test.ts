// Proves the `quire db` commands end to end: a real `quire start` process (embedded shipping,
// sync durability), driven by the real `quire` command line through the admin API: `db list
// --json` shows every copy with the contract's fields, suspend holds a copy, resume brings it
// back, switchover moves the active role, and reseed replaces a copy with a progress bar, with
// exit status 0; bad input exits non-zero with one line of error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));

function quire(dataDir: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args, '--data', dataDir], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function list(dataDir: string): Array<Record<string, any>> {
  const r = quire(dataDir, 'db', 'list', '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Array<Record<string, any>>;
}

async function until(fn: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('quire db list / suspend / resume / switchover against a running server', { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-db-cli-'));
  const server = spawn(process.execPath, [bin, 'start', '--data', dataDir, '--port-offset', 'any', '--durability', 'sync'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    await until(() => existsSync(join(dataDir, 'server.json')) || server.exitCode !== null, 60_000, 'the server to start');
    assert.equal(server.exitCode, null, output);

    let copies = list(dataDir);
    assert.equal(copies.length, 4);
    for (const field of ['database', 'server', 'role', 'state', 'pid', 'lastLogPosition', 'checkpointPosition', 'copyQueueLength', 'replayQueueLength', 'contentIndexState', 'lastInspectedPosition', 'lastReplayedPosition', 'replayLagMs']) {
      for (const c of copies) assert.ok(field in c, `db list --json has ${field}`);
    }
    await until(() => list(dataDir).every((c) => c.state === (c.role === 'active' ? 'Mounted' : 'Healthy')), 30_000, 'every copy healthy');
    copies = list(dataDir);
    const db1 = copies.filter((c) => c.database === 'DB01');
    assert.equal(db1.find((c) => c.copy === 2)!.lastLogPosition, db1.find((c) => c.copy === 1)!.lastLogPosition, 'the demo mailbox reached the passive copy');

    let r = quire(dataDir, 'db', 'suspend', 'DB01', '--copy', 'MBX1#2');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(list(dataDir).find((c) => c.database === 'DB01' && c.copy === 2)!.state, 'Suspended');
    r = quire(dataDir, 'db', 'resume', 'DB01', '--copy', 'MBX1#2');
    assert.equal(r.status, 0, r.stderr);
    await until(() => list(dataDir).find((c) => c.database === 'DB01' && c.copy === 2)!.state === 'Healthy', 30_000, 'resumed copy healthy');

    r = quire(dataDir, 'db', 'switchover', 'DB01', '--to', 'MBX1#2');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /switched over: DB01 active on MBX1#2/);
    copies = list(dataDir).filter((c) => c.database === 'DB01');
    assert.equal(copies.find((c) => c.copy === 2)!.role, 'active');
    assert.equal(copies.find((c) => c.copy === 2)!.state, 'Mounted');
    assert.equal(copies.find((c) => c.copy === 1)!.role, 'passive');
    r = quire(dataDir, 'user', 'add', 'after@example.org', '--password', 'a-long-password-1');
    assert.equal(r.status, 0, `a user can be added through the new active copy: ${r.stderr}`);

    r = quire(dataDir, 'db', 'reseed', 'DB01', '--copy', 'MBX1#1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /100% /, 'a progress bar ends at 100 %');
    assert.match(r.stdout, /reseeded DB01 on MBX1#1/);
    await until(() => {
      const c = list(dataDir).filter((x) => x.database === 'DB01');
      return c.find((x) => x.copy === 1)!.state === 'Healthy' && c.find((x) => x.copy === 1)!.lastLogPosition === c.find((x) => x.copy === 2)!.lastLogPosition;
    }, 30_000, 'reseeded copy healthy and current');

    r = quire(dataDir, 'db', 'switchover', 'DB01', '--to', 'NOSUCH');
    assert.notEqual(r.status, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    r = quire(dataDir, 'db', 'suspend', 'DB01');
    assert.equal(r.status, 2, 'usage error');
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => (server.exitCode !== null ? resolve(null) : server.once('exit', resolve)));
    rmSync(dataDir, { recursive: true, force: true });
  }
});
