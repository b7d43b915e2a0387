// CRC32C (Castagnoli): reflected polynomial 0x82F63B78, init ~0, final xor ~0.
// Check value: crc32c("123456789") == 0xE3069283.
//
// Slicing-by-16: sixteen 256-entry tables, built once at instantiation, let one loop step fold
// 16 input bytes with 16 independent lookups instead of a serial chain of 16.
//
//   tablesPtr + k * 1024          (k = 0..15, u32 entries; static data at a compile-time address,
//                                  so each lookup is one load with an immediate offset)
//   +----------+----------+-- ... --+-----------+
//   | T0[256]  | T1[256]  |         | T15[256]  |   T0 = the classic byte table,
//   +----------+----------+-- ... --+-----------+   Tk[i] = (Tk-1[i] >> 8) ^ T0[Tk-1[i] & 0xff]

import { assertInMemory } from "./memory";

const polyReflected: u32 = 0x82f63b78;
const tableCount: u32 = 16;
const tableBytes: usize = 256 * 4;

const tablesPtr: usize = memory.data(<i32>(256 * 4 * 16), 64);

buildTables(tablesPtr);

function buildTables(ptr: usize): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let bit = 0; bit < 8; bit++) c = (c >>> 1) ^ (polyReflected & (0 - (c & 1)));
    store<u32>(ptr + ((<usize>i) << 2), c);
  }
  for (let k: u32 = 1; k < tableCount; k++) {
    for (let i: u32 = 0; i < 256; i++) {
      const prev = load<u32>(ptr + (<usize>(k - 1)) * tableBytes + ((<usize>i) << 2));
      const next = (prev >>> 8) ^ load<u32>(ptr + ((<usize>(prev & 0xff)) << 2));
      store<u32>(ptr + (<usize>k) * tableBytes + ((<usize>i) << 2), next);
    }
  }
}

// @ts-ignore: decorator
@inline
function t(k: usize, byte: u32): u32 {
  return load<u32>(tablesPtr + k * tableBytes + ((<usize>byte) << 2));
}

/** Same as crc32c, without the bounds assert: for callers that already checked the region. */
export function crc32cUnchecked(ptr: usize, len: u32, crc: u32): u32 {
  let c = ~crc;
  let p = ptr;
  let n = <usize>len;
  while (n >= 16) {
    const a = load<u32>(p) ^ c;
    const b = load<u32>(p, 4);
    const d = load<u32>(p, 8);
    const e = load<u32>(p, 12);
    c = t(15, a & 0xff) ^ t(14, (a >>> 8) & 0xff) ^ t(13, (a >>> 16) & 0xff) ^ t(12, a >>> 24)
      ^ t(11, b & 0xff) ^ t(10, (b >>> 8) & 0xff) ^ t(9, (b >>> 16) & 0xff) ^ t(8, b >>> 24)
      ^ t(7, d & 0xff) ^ t(6, (d >>> 8) & 0xff) ^ t(5, (d >>> 16) & 0xff) ^ t(4, d >>> 24)
      ^ t(3, e & 0xff) ^ t(2, (e >>> 8) & 0xff) ^ t(1, (e >>> 16) & 0xff) ^ t(0, e >>> 24);
    p += 16;
    n -= 16;
  }
  while (n > 0) {
    c = (c >>> 8) ^ t(0, (c ^ <u32>load<u8>(p)) & 0xff);
    p++;
    n--;
  }
  return ~c;
}

/**
 * CRC32C of [ptr, ptr + len), continuing from `crc` (0 to start; pass the previous return value to
 * chain: crc32c(b, n, crc32c(a, m, 0)) == crc32c of a followed by b).
 */
export function crc32c(ptr: usize, len: u32, crc: u32): u32 {
  assertInMemory(ptr, len);
  return crc32cUnchecked(ptr, len, crc);
}
