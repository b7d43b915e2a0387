// What per-message prefixes cost content search: one folder of 20,000 small messages appended
// whole, then the same appended with a prefix each (Return-Path from 300 senders, one
// Delivered-To), the median of 9 searches per criterion once the index is Healthy.
// Run: npm run build && node dist/engine/search/prefix.bench.js

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContentCriterion, TxOp } from '../api.js';
import { MailboxDatabase } from '../database.js';
import { nodeStorage, seededPrng, systemClock } from '../io.js';
import { MemoryKv } from '../state/kv.js';

const messages = 20_000;
const criteria: Array<[string, ContentCriterion]> = [
  ['TEXT "budget 5"', { key: 'text', value: 'budget 5' }],
  ['TEXT, no match', { key: 'text', value: 'zzzqqq' }],
  ['BODY, no match', { key: 'body', value: 'zzzqqq' }],
  ['HEADER Delivered-To', { key: 'header', name: 'delivered-to', value: 'u@example' }],
];

for (const prefixed of [false, true]) {
  const dir = mkdtempSync(join(tmpdir(), 'quire-prefix-bench-'));
  const db = await MailboxDatabase.open({ name: 'DB01', dir, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(1), openKv: async () => new MemoryKv(), diskFreeBytesMin: 0 });
  try {
    await db.commit({ mailboxId: 'u', ops: [{ op: 'createMailbox', address: 'u@example.org', quotaBytes: null }] });
    for (let i = 0; i < messages; i += 500) {
      const ops: TxOp[] = [];
      for (let k = i; k < i + 500; k++) {
        const content = Buffer.from(`Subject: message ${k}\r\nFrom: s${k % 300}@remote.test\r\n\r\nbody text number ${k} about budget ${k % 97}\r\n`);
        const prefix = Buffer.from(`Return-Path: <s${k % 300}@remote.test>\r\nDelivered-To: u@example.org\r\n`);
        ops.push({ op: 'append', folder: 'INBOX', content, ...(prefixed ? { prefix } : {}) });
      }
      const committed = await db.commit({ mailboxId: 'u', ops });
      if (!committed.ok) throw new Error(committed.message);
    }
    await db.startIndexing();
    for (const [name, criterion] of criteria) {
      await db.search('u', 'INBOX', criterion);
      const ms: number[] = [];
      let hits = 0;
      for (let run = 0; run < 9; run++) {
        const started = performance.now();
        const found = await db.search('u', 'INBOX', criterion);
        ms.push(performance.now() - started);
        hits = found.ok ? found.value.length : -1;
      }
      ms.sort((a, b) => a - b);
      console.log(`${prefixed ? 'prefixed' : 'whole   '} ${messages} messages, ${name}: median ${ms[4]!.toFixed(1)} ms (${hits} hits)`);
    }
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
