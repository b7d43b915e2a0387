// CRC32C for the engine's own small checksums (state values, headers): the WASM core's.
export { crc32cBytes as crc32c } from '../core-wasm/index.js';
