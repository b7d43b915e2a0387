import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toMessageColumns, type MailboxApi, type MessageInfo } from '../../engine/api.js';
import { evaluateSearch } from './search.js';
import { SelectedMailbox, type FlagLineItem } from './selected.js';
import type { SearchKey } from './wire/types.js';

// The view in columns against the MessageInfo listing it stands for: every field of every row,
// FETCH (UID FLAGS MODSEQ) lines, CHANGEDSINCE and flag SEARCH against the per-message
// formulation they replaced, before and after appends, flag changes and expunges.

const flagChoices: ReadonlyArray<readonly string[]> = [[], ['\\Seen'], ['\\Seen', '\\Flagged'], ['\\Flagged'], ['$Work', '\\seen'], ['\\Deleted', '\\Seen', '$Later']];

function randomMessages(count: number, seed: number): MessageInfo[] {
  let x = seed;
  const next = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };
  let uid = 0;
  return Array.from({ length: count }, (_, i) => {
    uid += 1 + next(3);
    return {
      uid,
      modseq: 1 + next(1000),
      flags: flagChoices[next(flagChoices.length)]!,
      sizeBytes: 100 + next(5000),
      internalDateMs: Date.UTC(2026, 0, 1) + next(90) * 86_400_000,
      emailId: `M${i.toString(36)}`,
      threadId: `T${(i % 7).toString(36)}`,
      ...(i % 5 === 0 ? { prefixBytes: 40 + i } : {}),
    };
  });
}

const plain = (m: MessageInfo): MessageInfo => ({ ...m, flags: [...m.flags] });

function columnsView(messages: readonly MessageInfo[]): SelectedMailbox {
  const view = new SelectedMailbox('INBOX', 1, 1, false, 1, 1);
  view.loadColumns(toMessageColumns([...messages]));
  return view;
}

/** FETCH lines as the per-message writer formatted them before fetchFlagLines. */
function linesByHand(view: SelectedMailbox, messages: readonly MessageInfo[], uids: readonly number[], items: readonly FlagLineItem[]): string {
  const byUid = new Map(messages.map((m) => [m.uid, m]));
  return uids
    .filter((uid) => byUid.has(uid))
    .map((uid) => {
      const m = byUid.get(uid)!;
      const parts = items.map((item) => (item === 'UID' ? `UID ${uid}` : item === 'FLAGS' ? `FLAGS (${m.flags.join(' ')})` : `MODSEQ (${m.modseq})`));
      return `* ${view.seqOf(uid)} FETCH (${parts.join(' ')})\r\n`;
    })
    .join('');
}

function assertViewHolds(view: SelectedMailbox, messages: readonly MessageInfo[]): void {
  const sorted = [...messages].sort((a, b) => a.uid - b.uid);
  assert.deepEqual(view.uids, sorted.map((m) => m.uid));
  for (const [row, m] of sorted.entries()) {
    assert.deepEqual(plain(view.infoAt(row)), plain(m));
    assert.deepEqual(plain(view.infos.get(m.uid)!), plain(m));
    assert.equal(view.emailIdAt(row), m.emailId);
    assert.equal(view.threadIdAt(row), m.threadId);
  }
  const all = view.uids;
  const some = all.filter((_, i) => i % 3 !== 1).concat([all[all.length - 1]! + 5]);
  for (const items of [['UID', 'FLAGS'], ['FLAGS'], ['UID', 'FLAGS', 'MODSEQ'], ['MODSEQ', 'UID']] as FlagLineItem[][]) {
    assert.equal(view.fetchFlagLines(all, items).toString('latin1'), linesByHand(view, sorted, all, items));
    assert.equal(view.fetchFlagLines(some, items).toString('latin1'), linesByHand(view, sorted, some, items));
  }
  for (const since of [0, 10, 500, 999, 1000]) {
    assert.deepEqual(view.changedSince(some, since), some.filter((uid) => (sorted.find((m) => m.uid === uid)?.modseq ?? 0) > since));
  }
  const keywords = new Set(sorted.flatMap((m) => m.flags));
  assert.deepEqual(new Set(view.flagsInUse().flat()), keywords);
}

async function searchFlags(view: SelectedMailbox, key: SearchKey): Promise<number[]> {
  const found = await evaluateSearch(view, key, { api: null as unknown as MailboxApi, mailboxId: 'm', folder: 'INBOX' }, 0);
  assert.ok(found.ok);
  return found.value.uids;
}

test('a view from a listing\'s columns holds every field; FETCH flag lines and CHANGEDSINCE match the per-message answers', () => {
  const messages = randomMessages(700, 7);
  assertViewHolds(columnsView(messages), messages);
  // Columns out of UID order are put in order; the empty listing.
  assertViewHolds(columnsView([...messages].reverse()), messages);
  assertViewHolds(columnsView([]), []);
  const view = new SelectedMailbox('INBOX', 1, 1, false, 1, 1);
  view.load(messages);
  assertViewHolds(view, messages);
});

test('appends, flag changes and expunges keep the columns right, before and after the ids are first read', () => {
  for (const readIdsFirst of [false, true]) {
    let messages = randomMessages(300, 11);
    const view = columnsView(messages);
    if (readIdsFirst) assert.equal(view.emailIdAt(0), messages[0]!.emailId);
    const last = messages[messages.length - 1]!.uid;
    const added: MessageInfo[] = [1, 2, 3].map((k) => ({ uid: last + k, modseq: 2000 + k, flags: ['$New'], sizeBytes: 9, internalDateMs: 0, emailId: `N${k}`, threadId: `U${k}` }));
    for (const m of added) assert.equal(view.append(m), messages.length + added.indexOf(m) + 1);
    messages = [...messages, ...added];
    const changed = messages.filter((_, i) => i % 4 === 0).map((m) => ({ ...m, modseq: m.modseq + 5000, flags: ['\\Answered', `$K${m.uid % 3}`] }));
    for (const m of changed) view.infos.set(m.uid, m);
    messages = messages.map((m) => changed.find((c) => c.uid === m.uid) ?? m);
    assertViewHolds(view, messages);
    const gone = messages.filter((_, i) => i % 7 === 3).map((m) => m.uid);
    const seqs = view.removeAll(gone);
    assert.deepEqual(seqs, gone.map((uid) => messages.findIndex((m) => m.uid === uid) + 1).sort((a, b) => b - a));
    messages = messages.filter((m) => !gone.includes(m.uid));
    assertViewHolds(view, messages);
  }
});

test('flag lists no message has any more are dropped once they outnumber the messages', () => {
  const messages = randomMessages(10, 3);
  const view = columnsView(messages);
  let latest = messages;
  for (let round = 0; round < 200; round++) {
    latest = latest.map((m, i) => ({ ...m, flags: [`$R${round}x${i}`] }));
    for (const m of latest) view.infos.set(m.uid, m);
  }
  assertViewHolds(view, latest);
  assert.ok(view.flagListsHolding('$R0x0').length <= 2 * messages.length + 64 + 1);
});

test('a flag SEARCH over the columns finds what testing each message\'s flags found', async () => {
  const messages = randomMessages(900, 5);
  const view = columnsView(messages);
  const has = (m: MessageInfo, flag: string): boolean => m.flags.some((f) => f.toLowerCase() === flag.toLowerCase());
  const flag = (f: string, set: boolean): SearchKey => ({ kind: 'flag', flag: f, set });
  const cases: Array<[SearchKey, (m: MessageInfo) => boolean]> = [
    [flag('\\Flagged', true), (m) => has(m, '\\Flagged')],
    [flag('\\SEEN', false), (m) => !has(m, '\\Seen')],
    [flag('$work', true), (m) => has(m, '$Work')],
    [flag('$Absent', true), () => false],
    [{ kind: 'or', left: flag('\\Deleted', true), right: { kind: 'not', key: flag('\\Seen', true) } }, (m) => has(m, '\\Deleted') || !has(m, '\\Seen')],
    [{ kind: 'and', keys: [flag('\\Seen', true), { kind: 'size', op: 'larger', bytes: 2000 }] }, (m) => has(m, '\\Seen') && m.sizeBytes > 2000],
  ];
  // Every message, then with one awaiting its EXPUNGE (left out of every answer).
  for (const pending of [[], [messages[4]!.uid]]) {
    for (const uid of pending) view.pendingExpunge.add(uid);
    const live = messages.filter((m) => !view.pendingExpunge.has(m.uid));
    for (const [key, expected] of cases) assert.deepEqual(await searchFlags(view, key), live.filter(expected).map((m) => m.uid));
  }
});
