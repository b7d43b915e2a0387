// One writer per directory: an exclusive lock file holding the owner's pid. The running
// server holds it for its lifetime, the offline CLI for one command. A lock whose pid is
// dead is stale (the owner crashed) and is taken over.
//
// Known gap: two processes taking over the same stale lock at the same instant can both
// unlink-and-create; the second create then removes the first's lock. After creating we
// read the file back and give up if it is not ours, which narrows but does not close that
// window. A kernel lock (flock) would close it but is not reachable from Node without a
// native module.

import { promises as fs } from 'node:fs';
import { fail, ok, type Result } from '../errors.js';

export interface LockOptions {
  readonly pid: number;
  readonly isProcessAlive: (pid: number) => boolean;
  readonly nowMs: () => number;
}

/** An empty lock younger than this is another process between create and write, not a crash. */
const lockWriteGraceMs = 10_000;

export function nodeIsProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DirectoryLock {
  private released = false;
  private constructor(readonly path: string, readonly pid: number) {}

  static async acquire(path: string, options: LockOptions): Promise<Result<DirectoryLock>> {
    // Two attempts: the first may find a stale lock and remove it.
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await fs.open(path, 'wx', 0o644);
        try {
          await handle.writeFile(`${options.pid}\n`);
          await handle.sync();
        } finally {
          await handle.close();
        }
        const back = await readPid(path);
        if (back !== options.pid) break;
        return ok(new DirectoryLock(path, options.pid));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') {
          return fail('DIRECTORY_UNAVAILABLE', `cannot create lock ${path}: ${(error as Error).message}`);
        }
      }
      const holder = await readPid(path);
      if (holder !== null && options.isProcessAlive(holder)) {
        return fail('DIRECTORY_UNAVAILABLE', `directory is locked by process ${holder} (${path})`);
      }
      if (holder === null && (await isYoung(path, options.nowMs()))) {
        return fail('DIRECTORY_UNAVAILABLE', `directory lock ${path} is being taken by another process`);
      }
      // Dead owner, or no pid in an old file (a crash between create and write): stale.
      await fs.rm(path, { force: true });
    }
    return fail('DIRECTORY_UNAVAILABLE', `directory lock ${path} is contended; try again`);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    // Only remove the lock if it is still ours (a takeover may have replaced it).
    if ((await readPid(this.path)) === this.pid) await fs.rm(this.path, { force: true });
  }
}

async function readPid(path: string): Promise<number | null> {
  try {
    const text = await fs.readFile(path, 'utf8');
    const pid = Number(text.trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

async function isYoung(path: string, nowMs: number): Promise<boolean> {
  try {
    const stat = await fs.stat(path);
    return nowMs - stat.mtimeMs < lockWriteGraceMs;
  } catch {
    return false;
  }
}
