// Small per-account JSON documents the server keeps for the front ends: JMAP identities and
// email submissions, the vacation response and whom it answered. One file per document,
// <data>/accounts/<mailboxId>/<name>.json, replaced atomically (write, fsync, rename, fsync of
// the directory) before an update resolves; the updates of one document run one after the
// other, so a read-modify-write never loses a concurrent one. Every document goes through this
// object, so each is read from disk once and then answered from memory (its text, at most
// documentCacheBytesMax in all, least recently used forgotten first; a missing document is
// remembered too: local delivery asks for every recipient's vacation document, and most users
// have none). These files live in the data
// directory of one server: they are not replicated with the mailbox database (ARCHITECTURE.md,
// Known gaps).

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeStorage } from '../engine/io.js';
import { fail, ok, type Result } from '../engine/errors.js';
import type { AccountDocuments } from '../protocols/frontend.js';

/** The largest document; an update that would grow one past it answers LIMIT. */
export const documentBytesMax = 1024 * 1024;

/** Documents' text kept in memory, in all (a missing document counts as its path). */
export const documentCacheBytesMax = 32 * 1024 * 1024;

export const accountDocumentsDir = (dataDir: string): string => join(dataDir, 'accounts');

const safeName = /^[\w.-]{1,128}$/;

export class FileAccountDocuments implements AccountDocuments {
  /** The tail of each document's update chain. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Each document's text as on disk (null: no such file), least recently used first. */
  private readonly cache = new Map<string, string | null>();
  private cacheBytes = 0;

  constructor(private readonly dir: string) {}

  private remember(path: string, text: string | null): void {
    this.forget(path);
    this.cache.set(path, text);
    this.cacheBytes += (text ?? path).length;
    for (const [oldest] of this.cache) {
      if (this.cacheBytes <= documentCacheBytesMax) break;
      this.forget(oldest);
    }
  }

  private forget(path: string): void {
    if (!this.cache.has(path)) return;
    this.cacheBytes -= (this.cache.get(path) ?? path).length;
    this.cache.delete(path);
  }

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
    let text = this.cache.get(path);
    if (text === undefined) {
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return fail('DISK_FULL', `reading ${path}: ${(error as Error).message}`);
        text = null;
      }
    }
    this.remember(path, text);
    if (text === null) return ok(null);
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
      const text = JSON.stringify(changed.value);
      const bytes = Buffer.from(text, 'utf8');
      if (bytes.length > documentBytesMax) return fail('LIMIT', `${name} would be ${bytes.length} bytes (at most ${documentBytesMax})`);
      try {
        await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
        await nodeStorage().writeAtomic(path, bytes);
      } catch (error) {
        // Whether the new text reached the disk is not known: read it again next time.
        this.forget(path);
        return fail('DISK_FULL', `writing ${path}: ${(error as Error).message}`);
      }
      this.remember(path, text);
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
