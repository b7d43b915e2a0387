// What the figures were measured on. A ratio travels between machines; an absolute number
// means nothing without the CPU, the kernel and above all the disk under the scratch directory.

import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly platform: string;
  readonly node: string;
  readonly uvThreadpoolSize: string;
  readonly packages: Readonly<Record<string, string>>;
  readonly scratchDisk: {
    readonly path: string;
    readonly device: string;
    readonly fsType: string;
    readonly mountPoint: string;
    readonly sizeBytes: number;
    readonly freeBytes: number;
  };
}

function packageVersion(repoRoot: string, name: string): string {
  try {
    const json = JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as {
      version?: string;
    };
    return json.version ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

/** The mount holding path: the longest mount point that prefixes it (Linux; unknown elsewhere). */
function mountOf(path: string): { device: string; fsType: string; mountPoint: string } {
  try {
    let best = { device: 'unknown', fsType: 'unknown', mountPoint: '' };
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mountPoint, fsType] = line.split(' ');
      if (mountPoint === undefined || fsType === undefined) continue;
      const inside = path === mountPoint || path.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
      if (inside && mountPoint.length > best.mountPoint.length) best = { device, fsType, mountPoint };
    }
    return best;
  } catch {
    return { device: 'unknown', fsType: 'unknown', mountPoint: 'unknown' };
  }
}

export async function describeMachine(repoRoot: string, scratchPath: string): Promise<Machine> {
  const path = resolve(scratchPath);
  const fs = await statfs(path);
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    platform: `${os.platform()} ${os.arch()}`,
    node: process.version,
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? '4 (default)',
    packages: {
      rocksdb: packageVersion(repoRoot, 'rocksdb'),
      assemblyscript: packageVersion(repoRoot, 'assemblyscript'),
      typescript: packageVersion(repoRoot, 'typescript'),
    },
    scratchDisk: {
      path,
      ...mountOf(path),
      sizeBytes: fs.blocks * fs.bsize,
      freeBytes: fs.bavail * fs.bsize,
    },
  };
}
