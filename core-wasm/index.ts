// Loads the WASM core once, synchronously, and exposes it with TypeScript types. The engine
// calls this on its hot paths; see README.md for the export table and docs/internals/log-format.md
// for the bytes.
//
// Views of WASM memory (bytes(), buffer(), u32s(), f64s()) are only valid until the next
// reserve(): growing memory detaches the old ArrayBuffer. Reserve everything at open, then view.

import { readFileSync } from 'node:fs';
import type { ScanErrorKind, ScanStatus, CkptStatus } from './constants.js';

export * from './constants.js';

/** What scan() learned about a buffer (offsets relative to the buffer's start). */
export interface ScanResult {
  status: ScanStatus;
  /** End of the last complete batch: everything before it verified. */
  validBytes: number;
  /** Records and batches in the valid prefix. */
  records: number;
  batches: number;
  /** Where the scan stopped on a problem, or -1. */
  errorOffset: number;
  errorKind: ScanErrorKind;
  /** First valid record after the problem, or -1 (see scanResyncOffset in assembly/record.ts). */
  resyncOffset: number;
}

/** The raw exports, exactly as the module declares them (u32 results may arrive negative). */
interface RawExports {
  memory: WebAssembly.Memory;
  reserve(bytes: number): number;
  memoryBytes(): number;
  crc32c(ptr: number, len: number, crc: number): number;
  frameRecord(ptr: number, payloadBytes: number, type: number, version: number, flags: number, position: number): number;
  frameBatch(ptr: number, count: number, position: number): number;
  scan(ptr: number, len: number, position: number): number;
  scanValidBytes(): number;
  scanRecords(): number;
  scanBatches(): number;
  scanErrorOffset(): number;
  scanErrorKind(): number;
  scanResyncOffset(): number;
  ckptReset(position: number): void;
  ckptAppended(start: number, end: number): number;
  ckptMaterialized(start: number): number;
  ckptPosition(): number;
  ckptPending(): number;
  uidToSeq(uidsPtr: number, count: number, uid: number): number;
  uidLowerBound(uidsPtr: number, count: number, uid: number): number;
  countMask(flagsPtr: number, count: number, mask: number): number;
  countMissing(flagsPtr: number, count: number, mask: number): number;
  selectModseqAbove(modseqPtr: number, count: number, since: number, outPtr: number): number;
  [constant: string]: unknown;
}

export interface WasmCore {
  /** 8-aligned pointer to `bytes` fresh zeroed bytes that never move; 0 if memory is exhausted. */
  reserve(bytes: number): number;
  memoryBytes(): number;
  /** Views of [ptr, ptr + length): valid until the next reserve(). */
  bytes(ptr: number, length: number): Uint8Array;
  buffer(ptr: number, length: number): Buffer;
  u32s(ptr: number, count: number): Uint32Array;
  f64s(ptr: number, count: number): Float64Array;

  /** Chainable CRC32C: start with 0, pass the previous result to continue. */
  crc32c(ptr: number, len: number, crc: number): number;
  frameRecord(ptr: number, payloadBytes: number, type: number, version: number, flags: number, position: number): number;
  frameBatch(ptr: number, count: number, position: number): number;
  scan(ptr: number, len: number, position: number): ScanStatus;
  scanValidBytes(): number;
  scanRecords(): number;
  scanBatches(): number;
  scanErrorOffset(): number;
  scanErrorKind(): ScanErrorKind;
  scanResyncOffset(): number;
  /** scan() and every getter in one object (allocates: not for per-record loops). */
  scanResult(ptr: number, len: number, position: number): ScanResult;

  ckptReset(position: number): void;
  ckptAppended(start: number, end: number): CkptStatus;
  ckptMaterialized(start: number): CkptStatus;
  ckptPosition(): number;
  ckptPending(): number;

  uidToSeq(uidsPtr: number, count: number, uid: number): number;
  uidLowerBound(uidsPtr: number, count: number, uid: number): number;
  countMask(flagsPtr: number, count: number, mask: number): number;
  countMissing(flagsPtr: number, count: number, mask: number): number;
  selectModseqAbove(modseqPtr: number, count: number, since: number, outPtr: number): number;

  /**
   * CRC32C of bytes that live outside WASM memory (copied through a scratch region reserved at
   * instantiation, so this never grows memory). Chainable like crc32c.
   */
  crc32cBytes(data: Uint8Array, crc?: number): number;

  /** The module's own copy of the shared constants (constants.test.ts compares them). */
  constant(name: string): number | undefined;
}

/** A failed assert inside the core: a caller bug, never an operating error. */
export class WasmAbortError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WasmAbortError';
  }
}

/** Reads an AssemblyScript string (UTF-16, byte length stored just before it). */
function readString(memory: WebAssembly.Memory, ptr: number): string {
  if (ptr === 0) return '';
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0]!;
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}

/** Compiles and instantiates a fresh core from the module bytes (tests use separate instances). */
export function instantiateCore(moduleBytes: Uint8Array<ArrayBuffer> = readFileSync(new URL('./core.wasm', import.meta.url))): WasmCore {
  let memory: WebAssembly.Memory | undefined;
  const imports = {
    env: {
      abort(messagePtr: number, filePtr: number, line: number, column: number): never {
        const message = memory ? readString(memory, messagePtr) : 'abort';
        const file = memory ? readString(memory, filePtr) : '?';
        throw new WasmAbortError(`${message} (${file}:${line}:${column})`);
      },
    },
  };
  const module = new WebAssembly.Module(moduleBytes);
  const raw = new WebAssembly.Instance(module, imports).exports as unknown as RawExports;
  memory = raw.memory;
  const mem = raw.memory;
  const scratchPtr = raw.reserve(scratchBytes) >>> 0;
  if (scratchPtr === 0) throw new WasmAbortError('no memory for the crc32c scratch region');

  const core: WasmCore = {
    reserve: (bytes) => raw.reserve(bytes) >>> 0,
    memoryBytes: () => raw.memoryBytes() >>> 0,
    bytes: (ptr, length) => new Uint8Array(mem.buffer, ptr, length),
    buffer: (ptr, length) => Buffer.from(mem.buffer, ptr, length),
    u32s: (ptr, count) => new Uint32Array(mem.buffer, ptr, count),
    f64s: (ptr, count) => new Float64Array(mem.buffer, ptr, count),

    crc32c: (ptr, len, crc) => raw.crc32c(ptr, len, crc) >>> 0,
    frameRecord: (ptr, payloadBytes, type, version, flags, position) =>
      raw.frameRecord(ptr, payloadBytes, type, version, flags, position) >>> 0,
    frameBatch: (ptr, count, position) => raw.frameBatch(ptr, count, position) >>> 0,
    scan: (ptr, len, position) => raw.scan(ptr, len, position) as ScanStatus,
    scanValidBytes: () => raw.scanValidBytes() >>> 0,
    scanRecords: () => raw.scanRecords() >>> 0,
    scanBatches: () => raw.scanBatches() >>> 0,
    scanErrorOffset: () => raw.scanErrorOffset(),
    scanErrorKind: () => raw.scanErrorKind() as ScanErrorKind,
    scanResyncOffset: () => raw.scanResyncOffset(),
    scanResult(ptr, len, position) {
      const status = raw.scan(ptr, len, position) as ScanStatus;
      return {
        status,
        validBytes: raw.scanValidBytes() >>> 0,
        records: raw.scanRecords() >>> 0,
        batches: raw.scanBatches() >>> 0,
        errorOffset: raw.scanErrorOffset(),
        errorKind: raw.scanErrorKind() as ScanErrorKind,
        resyncOffset: raw.scanResyncOffset(),
      };
    },

    ckptReset: (position) => raw.ckptReset(position),
    ckptAppended: (start, end) => raw.ckptAppended(start, end) as CkptStatus,
    ckptMaterialized: (start) => raw.ckptMaterialized(start) as CkptStatus,
    ckptPosition: () => raw.ckptPosition(),
    ckptPending: () => raw.ckptPending() >>> 0,

    uidToSeq: (uidsPtr, count, uid) => raw.uidToSeq(uidsPtr, count, uid) >>> 0,
    uidLowerBound: (uidsPtr, count, uid) => raw.uidLowerBound(uidsPtr, count, uid) >>> 0,
    countMask: (flagsPtr, count, mask) => raw.countMask(flagsPtr, count, mask) >>> 0,
    countMissing: (flagsPtr, count, mask) => raw.countMissing(flagsPtr, count, mask) >>> 0,
    selectModseqAbove: (modseqPtr, count, since, outPtr) => raw.selectModseqAbove(modseqPtr, count, since, outPtr) >>> 0,

    crc32cBytes(data, crc = 0) {
      const scratch = new Uint8Array(mem.buffer, scratchPtr, scratchBytes);
      let c = crc;
      for (let at = 0; at < data.length; at += scratchBytes) {
        const chunk = data.subarray(at, Math.min(at + scratchBytes, data.length));
        scratch.set(chunk);
        c = raw.crc32c(scratchPtr, chunk.length, c);
      }
      return c >>> 0;
    },

    constant(name) {
      const g = raw[name];
      return g instanceof WebAssembly.Global ? (g.value as number) : undefined;
    },
  };
  return core;
}

/** crc32cBytes copies through this many bytes at a time. */
const scratchBytes = 64 * 1024;

let shared: WasmCore | undefined;

/** The process's one core instance, instantiated on first use. */
export function loadCore(): WasmCore {
  shared ??= instantiateCore();
  return shared;
}

/** CRC32C of any bytes through the shared core (for small engine checksums). */
export function crc32cBytes(data: Uint8Array, crc = 0): number {
  return loadCore().crc32cBytes(data, crc);
}
