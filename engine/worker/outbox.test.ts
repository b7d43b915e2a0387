import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { Outbox, unpack } from './outbox.js';
import type { Many } from './protocol.js';

type M = { readonly n: number };

test('outbox: one turn’s messages leave in one write, in order; one alone leaves as itself', async () => {
  const writes: Array<M | Many<M>> = [];
  const outbox = new Outbox<M>((message, done) => {
    writes.push(message);
    done(null);
  });
  for (let n = 1; n <= 3; n++) outbox.send({ n });
  assert.equal(writes.length, 0);
  await turn();
  assert.deepEqual(writes, [{ many: [{ n: 1 }, { n: 2 }, { n: 3 }] }]);
  outbox.send({ n: 4 });
  await turn();
  assert.deepEqual(writes[1], { n: 4 });
  assert.deepEqual(writes.flatMap((w) => unpack(w).map((m) => m.n)), [1, 2, 3, 4]);
});

test('outbox: a message sent now goes after those queued before it; a failed write names its messages', async () => {
  const writes: Array<M | Many<M>> = [];
  const failed: number[] = [];
  const outbox = new Outbox<M>(
    (message, done) => {
      writes.push(message);
      done(unpack(message).some((m) => m.n === 9) ? new Error('gone') : null);
    },
    (messages) => failed.push(...messages.map((m) => m.n)),
  );
  outbox.send({ n: 1 });
  outbox.send({ n: 2 });
  outbox.now({ n: 3 });
  assert.deepEqual(writes, [{ many: [{ n: 1 }, { n: 2 }] }, { n: 3 }]);
  outbox.send({ n: 8 });
  outbox.send({ n: 9 });
  await turn();
  assert.deepEqual(failed, [8, 9]);
  outbox.send({ n: 10 });
  assert.deepEqual(outbox.drop(), [{ n: 10 }]);
  await turn();
  assert.equal(writes.length, 3);
});
