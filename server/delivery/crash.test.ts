// Proves the delivery promise across kill -9: a real `quire start` process takes an SMTP load
// from 8 concurrent sessions; after a number of 250s it is killed with SIGKILL mid-load. A
// server started again on the same data directory holds every message that got a 250, in
// the recipient's INBOX and in the safety net; a message that got no 250 may or may not be
// there (the sender would retry it) but is never there twice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SmtpTalk, dataBlock } from '../../protocols/smtp/testing.js';
import { startServer } from '../server.js';
import { readSafetyNet, safetyNetDir } from './safety-net.js';

const bin = fileURLToPath(new URL('../../../bin/quire.js', import.meta.url));
const sessions = 8;
const acksBeforeKill = 120;

async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One sender: messages over one session until the server goes away; returns the tokens acknowledged with 250. */
async function sender(port: number, session: number, acked: Set<string>, attempted: Set<string>): Promise<void> {
  let talk: SmtpTalk;
  try {
    talk = await SmtpTalk.connect(port);
    await talk.reply();
    await talk.command('EHLO load.test');
  } catch {
    return;
  }
  try {
    for (let n = 0; ; n++) {
      const token = `s${session}m${n}`;
      attempted.add(token);
      talk.write(`MAIL FROM:<load@remote.test>\r\nRCPT TO:<demo@example.org>\r\nDATA\r\n`);
      const replies = [await talk.reply(), await talk.reply(), await talk.reply()];
      if (replies[2]!.code !== 354) throw new Error(replies.map((r) => r.text).join(' | '));
      talk.write(dataBlock(`Subject: load ${token}\r\nX-Token: ${token}\r\n\r\n${'x'.repeat(512 + n)}\r\n`));
      const answer = await talk.reply();
      if (answer.code === 250) acked.add(token);
      else throw new Error(answer.text);
    }
  } catch {
    // the server was killed
  } finally {
    talk.close();
  }
}

test('kill -9 during an SMTP load: every message that got 250 is in the mailbox after restart', { timeout: 180_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-smtp-crash-'));
  // Ports chosen by the system: tests run in parallel, and a fixed offset can land on another's port.
  const child = spawn(process.execPath, [bin, 'start', '--data', dataDir, '--port-offset', 'any'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  try {
    await until(() => (existsSync(join(dataDir, 'server.json')) && output.includes('SMTP ')) || child.exitCode !== null, 'the server to start');
    assert.equal(child.exitCode, null, output);
    const smtpPort = (JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { ports: { smtp: number } }).ports.smtp;
    assert.match(output, new RegExp(`127\\.0\\.0\\.1:${smtpPort} \\(MX\\)`), output);

    const acked = new Set<string>();
    const attempted = new Set<string>();
    const load = Promise.all(Array.from({ length: sessions }, (_, i) => sender(smtpPort, i, acked, attempted)));
    await until(() => acked.size >= acksBeforeKill || child.exitCode !== null, `${acksBeforeKill} acknowledged messages`);
    assert.equal(child.exitCode, null, output);
    child.kill('SIGKILL');
    await load;
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
    assert.ok(acked.size >= acksBeforeKill);

    // The database workers notice their parent is gone and exit; then start again on the same data.
    const restarted = await (async () => {
      for (let i = 0; ; i++) {
        try {
          return await startServer({ dataDir, server: 'MBX1', domain: 'example.org', listen: '127.0.0.1', portOffset: 0, ports: 'ephemeral', logLevel: 'silent', say: () => undefined });
        } catch (error) {
          if (i >= 100) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    })();
    try {
      const demo = (await restarted.directory.findUser('demo@example.org'))!;
      const api = restarted.supervisor.api(demo.database);
      const listing = await api.listMessages(demo.mailboxId, 'INBOX');
      assert.ok(listing.ok, JSON.stringify(listing));
      const found = new Map<string, number>();
      for (const m of listing.value.messages) {
        const bytes = await api.readMessage(demo.mailboxId, 'INBOX', m.uid);
        assert.ok(bytes.ok);
        const token = /X-Token: (\S+)/.exec(Buffer.from(bytes.value).toString('latin1'))?.[1];
        assert.ok(token !== undefined);
        found.set(token, (found.get(token) ?? 0) + 1);
      }
      const lost = [...acked].filter((token) => !found.has(token));
      assert.deepEqual(lost, [], `acknowledged but missing after kill -9 (${acked.size} acknowledged, ${found.size} found)`);
      assert.deepEqual([...found].filter(([, n]) => n > 1), [], 'no message stored twice');
      assert.ok([...found.keys()].every((token) => attempted.has(token)));

      const kept = new Set<string>();
      await readSafetyNet(safetyNetDir(dataDir), 0, Number.MAX_SAFE_INTEGER, (entry) => {
        const token = /X-Token: (\S+)/.exec(Buffer.from(entry.contents[0]!).toString('latin1'))?.[1];
        if (token !== undefined) kept.add(token);
      });
      assert.deepEqual([...acked].filter((token) => !kept.has(token)), [], 'every acknowledged message is in the safety net');
    } finally {
      await restarted.stop();
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
