// A bump allocator over the module's linear memory. Regions never move and are never reused:
// the engine reserves its batch buffers once at open and hands raw pointers to I/O that may be
// in flight, so only reserve() may grow memory (a grow detaches JS views of the old buffer).
//
//   0            __heap_base                heapTop                 memory.size() << 16
//   +------------+--------------------------+------------------------+
//   | static data| reserved regions (8-aligned, forever)            | free (grown on demand)
//   +------------+--------------------------+------------------------+

import { align8Size, DEBUG } from "./constants";

const pageBytes: usize = 65536;

let heapTop: usize = align8Size(__heap_base);

/**
 * Returns an 8-aligned pointer to `bytes` fresh bytes (zeroed: WASM memory starts zeroed and is
 * never handed out twice), or 0 if memory cannot grow that far.
 */
export function reserve(bytes: u32): usize {
  const ptr = heapTop;
  // In u64: near 4 GiB, align8 and the end address would wrap a 32-bit usize.
  const end: u64 = <u64>ptr + ((<u64>bytes + 7) & ~(<u64>7));
  if (end >= (<u64>1 << 32)) return 0; // heapTop must stay a valid 32-bit address
  const haveBytes: u64 = (<u64>memory.size()) * <u64>pageBytes;
  if (end > haveBytes) {
    const pages = (end - haveBytes + <u64>pageBytes - 1) / <u64>pageBytes;
    if (memory.grow(<i32>pages) < 0) return 0;
  }
  heapTop = <usize>end;
  if (DEBUG) assert((ptr & 7) == 0, "regions are 8-aligned");
  return ptr;
}

/** Bytes of linear memory right now (the size of the JS ArrayBuffer behind every view). */
export function memoryBytes(): u32 {
  const bytes = (<u64>memory.size()) << 16;
  return bytes > <u64>u32.MAX_VALUE ? u32.MAX_VALUE : <u32>bytes; // 4 GiB does not fit a u32
}

/** A region [ptr, ptr + bytes) lies inside memory. Checked once per call, not per byte. */
// @ts-ignore: decorator
@inline
export function assertInMemory(ptr: usize, bytes: usize): void {
  const end = ptr + bytes;
  assert(end >= ptr && end <= (<usize>memory.size()) << 16, "region outside linear memory");
}
