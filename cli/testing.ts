// Test helper for the CLI tests: runs `quire` (bin/quire.js) on a data directory without
// blocking this process, where the server it talks to may run.

import { fileURLToPath } from 'node:url';
import { runProgram } from '../protocols/smtp/testing.js';

const bin = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));

export function quire(dataDir: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return runProgram(process.execPath, [bin, ...args, '--data', dataDir]);
}
