// Proves `quire domain add|list` both ways: through a running server's admin API (the CLI finds
// it by the data directory's server.json) and offline on the files once it has stopped; bad
// input exits non-zero with one line of error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startTestServer } from '../test/harness.js';
import { quire } from './testing.js';

test('quire domain add/list through the admin API and offline', { timeout: 90_000 }, async () => {
  const server = await startTestServer({ keepData: true });
  const dataDir = server.dataDir;
  try {
    const added = await quire(dataDir, 'domain', 'add', 'Example.NET');
    assert.equal(added.status, 0, added.stderr);
    assert.equal(added.stdout.trim(), 'added accepted domain example.net');
    const listed = await quire(dataDir, 'domain', 'list', '--json');
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual((JSON.parse(listed.stdout) as string[]).sort(), ['example.net', 'example.org']);
    const again = await quire(dataDir, 'domain', 'add', 'example.net');
    assert.notEqual(again.status, 0);
    assert.equal(again.stderr.trim().split('\n').length, 1, again.stderr);
    await server.stop();
    const offline = await quire(dataDir, 'domain', 'add', 'example.com');
    assert.equal(offline.status, 0, offline.stderr);
    const all = await quire(dataDir, 'domain', 'list');
    assert.deepEqual(all.stdout.trim().split('\n').sort(), ['example.com', 'example.net', 'example.org']);
    assert.notEqual((await quire(dataDir, 'domain', 'frobnicate')).status, 0);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
