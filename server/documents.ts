// Small per-account JSON documents the server keeps for the front ends: JMAP identities and
// email submissions, the vacation response and whom it answered. One file per document,
// <data>/accounts/<mailboxId>/<name>.json, replaced atomically (write, fsync, rename, fsync of
// the directory) before an update resolves; the updates of one document run one after the
// other, so a read-modify-write never loses a concurrent one. These files live in the data
// directory of one server: they are not replicated with the mailbox database (ARCHITECTURE.md,
// Known gaps).

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeStorage } from '../engine/io.js';
import { fail, ok, type Result } from '../engine/errors.js';
import type { AccountDocuments } from '../protocols/frontend.js';

/** The largest document; an update that would grow one past it answers LIMIT. */
export const documentBytesMax = 1024 * 1024;

export const accountDocumentsDir = (dataDir: string): string => join(dataDir, 'accounts');

const safeName = /^[\w.-]{1,128}$/;

export class FileAccountDocuments implements AccountDocuments {
  /** The tail of each document's update chain. */
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly dir: string) {}

  private path(mailboxId: string, name: string): string | null {
    if (!safeName.test(mailboxId) || !safeName.test(name) || mailboxId.startsWith('.') || name.startsWith('.')) return null;
    return join(this.dir, mailboxId, `${name}.json`);
  }

  async read<T>(mailboxId: string, name: string): Promise<Result<T | null>> {
    const path = this.path(mailboxId, name);
    if (path === null) return fail('INVALID_ARGUMENT', `bad document name ${mailboxId}/${name}`);
    // Wait for updates already running, so a read after an answered update sees it.
    await this.chains.get(path)?.catch(() => undefined);
    return this.load<T>(path);
  }

  private async load<T>(path: string): Promise<Result<T | null>> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ok(null);
      return fail('DISK_FULL', `reading ${path}: ${(error as Error).message}`);
    }
    try {
      return ok(JSON.parse(text) as T);
    } catch {
      return fail('CORRUPT', `${path} is not JSON`);
    }
  }

  update<T, R>(mailboxId: string, name: string, change: (current: T | null) => { readonly value?: T; readonly result: R }): Promise<Result<R>> {
    const path = this.path(mailboxId, name);
    if (path === null) return Promise.resolve(fail('INVALID_ARGUMENT', `bad document name ${mailboxId}/${name}`));
    const run = async (): Promise<Result<R>> => {
      const current = await this.load<T>(path);
      if (!current.ok) return current;
      const changed = change(current.value);
      if (changed.value === undefined) return ok(changed.result);
      const bytes = Buffer.from(JSON.stringify(changed.value), 'utf8');
      if (bytes.length > documentBytesMax) return fail('LIMIT', `${name} would be ${bytes.length} bytes (at most ${documentBytesMax})`);
      try {
        await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
        await nodeStorage().writeAtomic(path, bytes);
      } catch (error) {
        return fail('DISK_FULL', `writing ${path}: ${(error as Error).message}`);
      }
      return ok(changed.result);
    };
    const previous = this.chains.get(path) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(run);
    this.chains.set(path, next);
    void next.finally(() => {
      if (this.chains.get(path) === next) this.chains.delete(path);
    });
    return next;
  }
}
