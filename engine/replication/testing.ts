// Helpers shared by the replication tests: two copies of a database under a real supervisor, a
// mailbox to write to, appends that remember what was acknowledged, waiting on a condition, and
// reading a copy's log files for comparison.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MailboxApi } from '../api.js';
import { Supervisor, type SupervisorOptions } from '../supervisor.js';

export async function until<T>(fn: () => Promise<T | null | false> | T | null | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve(fn()).catch(() => null);
    if (value !== null && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface TwoCopies {
  /** The temporary folder: copy 1 (active) in `a`, copy 2 (passive) in `b`. */
  readonly dir: string;
  readonly supervisor: Supervisor;
  /** What the supervisor logged. */
  readonly lines: string[];
  /** DB01's routed handle, with mailbox m1 (a@example.org) created. */
  readonly api: MailboxApi;
}

/**
 * Runs `body` with DB01's two copies (MBX1#1 active in `a`, the passive on `passiveServer` in
 * `b`) started and up under a real supervisor, and mailbox m1 created; stops the supervisor and
 * removes the folder afterwards, whatever happened.
 */
export async function withTwoCopies(
  prefix: string,
  options: Omit<SupervisorOptions, 'copies' | 'log'>,
  body: (copies: TwoCopies) => Promise<void>,
  passiveServer = 'MBX1',
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const lines: string[] = [];
  const supervisor = new Supervisor({
    ...options,
    log: (line) => lines.push(line),
    copies: [
      { database: 'DB01', server: 'MBX1', copy: 1, role: 'active', dir: join(dir, 'a') },
      { database: 'DB01', server: passiveServer, copy: passiveServer === 'MBX1' ? 2 : 1, role: 'passive', dir: join(dir, 'b') },
    ],
  });
  try {
    await supervisor.start();
    await until(async () => (await supervisor.list()).every((c) => c.state === 'Mounted' || c.state === 'Healthy'), 20_000, 'copies up');
    const api = supervisor.api('DB01');
    await createMailbox(api, 'm1', 'a@example.org');
    await body({ dir, supervisor, lines, api });
  } finally {
    await supervisor.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A message of random text (content is deflated when that pays; this one fills log segments). */
export const randomMessage = (i: number, bytes = 15_000): string => `Subject: t ${i}\r\n\r\n${randomBytes(bytes).toString('base64')}\r\n`;

/** Appends `count` random messages to m1, each acknowledged (recorded in `acknowledged` when given). */
export async function appendRandom(api: MailboxApi, count: number, acknowledged?: Map<number, string>): Promise<void> {
  for (let i = 0; i < count; i++) {
    const text = randomMessage(acknowledged?.size ?? i);
    const r = await append(api, 'm1', text);
    assert.ok('uid' in r, JSON.stringify(r));
    acknowledged?.set(r.uid, text);
  }
}

export async function createMailbox(api: MailboxApi, mailboxId: string, address: string): Promise<void> {
  const created = await api.commit({ mailboxId, ops: [{ op: 'createMailbox', address, quotaBytes: null }] });
  if (!created.ok) throw new Error(`createMailbox: ${created.code} ${created.message}`);
}

/** Appends one message; returns its UID when acknowledged, or the failure. */
export async function append(api: MailboxApi, mailboxId: string, body: string): Promise<{ uid: number } | { code: string; message: string }> {
  const result = await api.commit({ mailboxId, ops: [{ op: 'append', folder: 'INBOX', content: new TextEncoder().encode(body) }] });
  if (!result.ok) return { code: result.code, message: result.message };
  const r = result.value.results[0]!;
  if (r.op !== 'append') throw new Error(`unexpected result ${r.op}`);
  return { uid: r.uid };
}

/**
 * A copy's whole log, its segments concatenated in order, without the zeros a running log writes
 * ahead of its end (trailing zero bytes are dropped, the last record's zero padding alike on every copy).
 */
export function logBytes(copyDir: string): Buffer {
  const dir = join(copyDir, 'log');
  const bytes = Buffer.concat(readdirSync(dir).filter((n) => n.endsWith('.qlog')).sort().map((n) => readFileSync(join(dir, n))));
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end -= 1;
  return bytes.subarray(0, end);
}

/** Checks every acknowledged append is in the mailbox with its UID and exact bytes; returns how many were checked. */
export async function checkAcknowledged(api: MailboxApi, mailboxId: string, acknowledged: ReadonlyMap<number, string>): Promise<{ missing: number[]; wrong: number[] }> {
  const listing = await api.listMessages(mailboxId, 'INBOX');
  if (!listing.ok) throw new Error(`listMessages: ${listing.code} ${listing.message}`);
  const present = new Set(listing.value.messages.map((m) => m.uid));
  const missing: number[] = [];
  const wrong: number[] = [];
  for (const [uid, body] of acknowledged) {
    if (!present.has(uid)) {
      missing.push(uid);
      continue;
    }
    const read = await api.readMessage(mailboxId, 'INBOX', uid);
    if (!read.ok || new TextDecoder().decode(read.value) !== body) wrong.push(uid);
  }
  return { missing, wrong };
}
