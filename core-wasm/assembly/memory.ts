// A bump allocator over the module's linear memory. Regions never move and are never reused:
// the engine reserves its batch buffers once at open and hands raw pointers to I/O that may be
// in flight, so only reserve() may grow memory (a grow detaches JS views of the old buffer).
//
//   0            __heap_base                heapTop                 memory.size() << 16
//   +------------+--------------------------+------------------------+
//   | static data| reserved regions (8-aligned, forever)            | free (grown on demand)
//   +------------+--------------------------+------------------------+

import { align8Size } from "./constants";

const pageBytes: usize = 65536;

let heapTop: usize = align8Size(__heap_base);

/**
 * Returns an 8-aligned pointer to `bytes` fresh bytes (zeroed: WASM memory starts zeroed and is
 * never handed out twice), or 0 if memory cannot grow that far.
 */
export function reserve(bytes: u32): usize {
  const ptr = heapTop;
  const end = ptr + align8Size(<usize>bytes);
  if (end < ptr) return 0; // wrapped the 32-bit address space
  const haveBytes = (<usize>memory.size()) * pageBytes;
  if (end > haveBytes) {
    const pages = <i32>((end - haveBytes + pageBytes - 1) / pageBytes);
    if (memory.grow(pages) < 0) return 0;
  }
  heapTop = end;
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
