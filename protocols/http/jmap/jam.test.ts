// Proves Quire's JMAP works with an independent client library from npm (jmap-jam): session
// discovery, Mailbox/get, upload, Email/import, a two-call request with a result reference,
// Email/set and download, Email/parse, Email/copy, SearchSnippet/get, Identity/get,
// EmailSubmission/set (sent to oneself) and VacationResponse/set and get, over real TLS (the
// child process trusts the test certificate).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer } from '../../../test/harness.js';

test('jmap-jam talks to Quire', { timeout: 90_000 }, async () => {
  const quire = await startTestServer();
  try {
    const caFile = join(quire.dataDir, 'test-ca.pem');
    writeFileSync(caFile, quire.cert);
    const script = fileURLToPath(new URL('./jam-client.js', import.meta.url));
    const sessionUrl = `https://127.0.0.1:${quire.port('https')}/.well-known/jmap`;
    // The child runs while this process's server answers it: spawn asynchronously.
    const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [script, sessionUrl, quire.demo.address, quire.demo.password], { env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    assert.equal(result.status, 0, result.stderr);
    const seen = JSON.parse(result.stdout);
    assert.equal(seen.inbox, 'INBOX');
    assert.equal(seen.blob.type, 'message/rfc822');
    const created = seen.imported.created.one;
    assert.ok(created.id);
    assert.deepEqual(seen.query.ids, [created.id]);
    assert.equal(seen.emails.list[0].subject, 'From jam');
    assert.deepEqual(seen.emails.list[0].from, [{ name: 'Jam', email: 'jam@example.net' }]);
    assert.deepEqual(seen.set.updated, { [created.id]: null });
    assert.deepEqual(seen.after.list[0].keywords, { $seen: true });
    assert.match(seen.downloaded, /Sent by jmap-jam\./);
    assert.equal(seen.parsed.parsed[seen.blob.blobId].subject, 'From jam');
    assert.ok(seen.copied.created.c.id, JSON.stringify(seen.copied));
    assert.equal(seen.snippets.list[0].preview, 'Sent by jmap-<mark>jam</mark>.');
    assert.deepEqual(seen.identities.list.map((i: { email: string }) => i.email), [quire.demo.address]);
    assert.equal(seen.submitted.created.s.deliveryStatus[quire.demo.address].delivered, 'yes', JSON.stringify(seen.submitted));
    assert.deepEqual(seen.vacationSet.updated, { singleton: null });
    assert.deepEqual([seen.vacation.list[0].isEnabled, seen.vacation.list[0].subject], [true, 'Away']);
  } finally {
    await quire.stop();
  }
});
