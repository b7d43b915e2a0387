// Proves the layering rule of STYLE.md: front ends (protocols/) reach storage only through the
// mailbox API and the error catalogue, never the log, the state store, the WASM core or the
// shipper. Reads every import in protocols/ and fails on one that crosses the line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const allowedEngine = new Set(['engine/api.ts', 'engine/errors.ts']);

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

test('protocols import only the mailbox API and the error catalogue from the engine', () => {
  const files = sources(join(root, 'protocols'));
  assert.ok(files.length > 0, 'no protocol sources found');
  const violations: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = match[1] ?? match[2]!;
      if (!spec.startsWith('.')) continue;
      const target = relative(root, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
      if (target.startsWith('core-wasm')) violations.push(`${relative(root, file)} imports ${spec}`);
      if (target.startsWith('engine/') && !allowedEngine.has(target)) violations.push(`${relative(root, file)} imports ${spec}`);
    }
  }
  assert.deepEqual(violations, []);
});
