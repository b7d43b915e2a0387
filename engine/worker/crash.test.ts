// Proves the durability promise with real processes: a write load runs against a database
// worker, the worker is killed with SIGKILL at random moments (20+ rounds), the supervisor
// restarts it, and every append that was acknowledged is there afterwards, byte for byte —
// while the other database, in its own process, never stops serving.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervisor } from '../supervisor.js';
import { seededPrng } from '../io.js';

const rounds = Number(process.env.CRASH_ROUNDS ?? 20);
const seed = Number(process.env.CRASH_SEED ?? 20261129);

async function until<T>(fn: () => Promise<T | null>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test(`kill -9 of a database worker loses no acknowledged append (${rounds} rounds, seed ${seed})`, { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-crash-'));
  const prng = seededPrng(seed);
  const supervisor = new Supervisor({
    restartDelayMsMax: 400,
    copies: [
      { database: 'DB01', server: 'MBX1', copy: 1, role: 'active', dir: join(dir, 'DB01') },
      { database: 'DB02', server: 'MBX1', copy: 1, role: 'active', dir: join(dir, 'DB02') },
    ],
  });
  try {
    await supervisor.start();
    const db1 = supervisor.api('DB01');
    const db2 = supervisor.api('DB02');
    assert.ok((await db1.commit({ mailboxId: 'm1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
    assert.ok((await db2.commit({ mailboxId: 'm2', ops: [{ op: 'createMailbox', address: 'b@example.org', quotaBytes: null }] })).ok);
    const acknowledged = new Map<number, string>(); // uid -> body
    let sent = 0;
    let refused = 0;
    let otherServed = 0;

    for (let round = 0; round < rounds; round++) {
      let stop = false;
      const writers = Array.from({ length: 16 }, async () => {
        while (!stop) {
          const body = `Subject: round ${round} #${sent++}\r\n\r\n${'x'.repeat(prng.below(4000))}\r\n`;
          const result = await db1.commit({ mailboxId: 'm1', ops: [{ op: 'append', folder: 'INBOX', content: new TextEncoder().encode(body) }] });
          if (result.ok) {
            const r = result.value.results[0]!;
            assert.equal(r.op, 'append');
            if (r.op === 'append') acknowledged.set(r.uid, body);
          } else {
            assert.equal(result.code, 'DATABASE_UNAVAILABLE', `unexpected failure ${result.code}: ${result.message}`);
            refused += 1;
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      });
      // The other database keeps answering while DB01 is killed and recovers.
      const reader = (async () => {
        while (!stop) {
          const info = await db2.mailbox('m2');
          assert.ok(info.ok, 'DB02 stopped serving while DB01 crashed');
          otherServed += 1;
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      await new Promise((r) => setTimeout(r, 30 + prng.below(200)));
      const [status] = (await supervisor.list()).filter((c) => c.database === 'DB01');
      assert.ok(status?.pid, 'DB01 has a worker');
      process.kill(status.pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, prng.below(50)));
      stop = true;
      await Promise.all([...writers, reader]);
      await until(async () => ((await supervisor.list()).find((c) => c.database === 'DB01' && c.state === 'Mounted' && c.pid !== status.pid) ? true : null), 20_000, 'DB01 to be mounted again');
    }

    const listing = await until(async () => {
      const r = await db1.listMessages('m1', 'INBOX');
      return r.ok ? r.value : null;
    }, 10_000, 'listing');
    const present = new Set(listing.messages.map((m) => m.uid));
    const missing = [...acknowledged.keys()].filter((uid) => !present.has(uid));
    assert.deepEqual(missing, [], `acknowledged appends missing after kill -9: ${missing.join(',')}`);
    // Bytes, for a sample of acknowledged messages.
    const uids = [...acknowledged.keys()];
    for (let i = 0; i < Math.min(50, uids.length); i++) {
      const uid = uids[prng.below(uids.length)]!;
      const read = await db1.readMessage('m1', 'INBOX', uid);
      assert.ok(read.ok);
      assert.equal(new TextDecoder().decode(read.value), acknowledged.get(uid));
    }
    // UIDs are never reused: UIDNEXT is past every UID ever acknowledged.
    assert.ok(listing.folder.uidNext > Math.max(0, ...uids));
    console.log(`# crash rounds=${rounds} acknowledged=${acknowledged.size} present=${present.size} refusedWhileDown=${refused} otherDatabaseAnswers=${otherServed}`);
    assert.ok(acknowledged.size > rounds, 'the load acknowledged too few appends to prove anything');
  } finally {
    await supervisor.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
