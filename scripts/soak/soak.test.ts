// The short soak CI runs (the full one is `npm run soak`, 20 iterations): three `quire start`
// servers with Kafka, the registry and OpenLDAP, LMTP and IMAP load, kill -9 of the server with
// the active copy twice; in sync mode no acknowledged message may be missing after either, and
// every server must shut down cleanly on SIGTERM at the end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak, summarize } from './soak.js';

test('soak (short): kill -9 of the server with the active copy, twice, under LMTP and IMAP load: nothing acknowledged is missing', { timeout: 420_000 }, async () => {
  const lines: string[] = [];
  const result = await runSoak({ iterations: 2, durability: 'sync', loadMs: 1_500, log: (line) => lines.push(line) });
  for (const line of summarize(result)) console.log(line);
  assert.equal(result.iterations.length, 2, lines.join('\n'));
  assert.deepEqual(result.iterations.map((i) => i.missing), [0, 0], lines.join('\n'));
  assert.ok(result.iterations.every((i) => i.acknowledged > 0));
  assert.deepEqual(result.stuck, []);
});
