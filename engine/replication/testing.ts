// Helpers shared by the replication tests: a mailbox to write to, appends that remember what
// was acknowledged, waiting on a condition, and reading a copy's log files for comparison.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MailboxApi } from '../api.js';

export async function until<T>(fn: () => Promise<T | null | false> | T | null | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve(fn()).catch(() => null);
    if (value !== null && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
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

/** A copy's whole log, its segments concatenated in order. */
export function logBytes(copyDir: string): Buffer {
  const dir = join(copyDir, 'log');
  return Buffer.concat(readdirSync(dir).filter((n) => n.endsWith('.qlog')).sort().map((n) => readFileSync(join(dir, n))));
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
