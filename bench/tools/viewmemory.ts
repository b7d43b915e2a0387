// What one IMAP session's selected view of a large folder holds in the server process's heap:
// the view in columns (protocols/imap/selected.ts, built from listMessageColumns) against one
// MessageInfo per message in a Map by UID (what the view held before 2026-11-29 evening, from
// unpackMessages). The listing is what crosses the IPC hop: a structured-clone copy of the
// packed columns. No server, no load: heap after full collections, so it does not depend on the
// machine's load.
//
//   npm run build && node --expose-gc dist/bench/tools/viewmemory.js [MESSAGES]

import { deserialize, serialize } from 'node:v8';
import type { MessageInfo } from '../../engine/api.js';
import { packMessages, unpackMessages, type PackedMessages } from '../../engine/worker/pack.js';
import { SelectedMailbox } from '../../protocols/imap/selected.js';

const messages = Number(process.argv[2] ?? 100_000);
const views = 4;
const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined) throw new Error('run with node --expose-gc');

// The large-mailbox bench's shape: ids about as long as the engine's, 1 in 100 \Flagged.
const listing: MessageInfo[] = Array.from({ length: messages }, (_, i) => ({
  uid: i + 1,
  modseq: 1000 + i,
  flags: i % 100 === 0 ? ['\\Flagged'] : [],
  sizeBytes: 600,
  internalDateMs: Date.UTC(2020, 0, 1) + i * 60_000,
  emailId: `M${(0x10000000 + i * 7919).toString(16)}a1b2c3d4`,
  threadId: `T${(0x20000000 + i * 104729).toString(16)}e5f6a7b8`,
}));
const wire = serialize(packMessages(listing));

function heapBytes(): number {
  collect!();
  collect!();
  const used = process.memoryUsage();
  return used.heapUsed + used.arrayBuffers;
}

/** Heap per view, `views` of them held at once. */
function perView(build: (packed: PackedMessages) => unknown): number {
  const held: unknown[] = [];
  const before = heapBytes();
  for (let k = 0; k < views; k++) held.push(build(deserialize(wire) as PackedMessages));
  const after = heapBytes();
  held.length = 0;
  return (after - before) / views;
}

const inColumns = (packed: PackedMessages): SelectedMailbox => {
  const view = new SelectedMailbox('INBOX', 1, 1, false, 1, 1);
  view.loadColumns(packed);
  return view;
};
// Once before measuring: what the first run compiles and caches is not the views'.
perView(inColumns);
const columns = perView(inColumns);
const objects = perView((packed) => {
  const infos = new Map<number, MessageInfo>();
  for (const info of unpackMessages(packed)) infos.set(info.uid, info);
  return { uids: [...infos.keys()], infos };
});
const line = (name: string, bytes: number): string => `${name}: ${(bytes / 2 ** 20).toFixed(1)} MiB per view, ${Math.round(bytes / messages)} bytes per message`;
console.log(`${messages} messages, ${views} views held at once`);
console.log(line('view in columns (selected.ts)', columns));
console.log(line('one MessageInfo per message in a Map (the former view)', objects));
