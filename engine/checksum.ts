// CRC32C for the engine's own small checksums (state values, headers), from the WASM core.
export { crc32cBytes as crc32c } from './log/codec.js';
