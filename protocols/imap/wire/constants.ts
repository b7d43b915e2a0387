// Every limit of the IMAP wire layer, in one place. Units are last in each name.
// The decoder and parser take a `WireLimits` so tests can shrink them; these are the defaults.

export interface WireLimits {
  /** Non-literal command text of one command (all its line segments together), CRLFs included. */
  readonly lineBytesMax: number;
  /** One literal's payload (APPENDLIMIT). Applies to `{N}`, `{N+}` and `~{N}` alike: we advertise LITERAL+, not LITERAL-. */
  readonly literalBytesMax: number;
  /** Literals in one command (MULTIAPPEND, long SEARCH keys). */
  readonly literalsPerCommandMax: number;
  /** Everything one command holds in memory: text plus literal payloads. Bounds decoder memory. */
  readonly commandBytesMax: number;
  /** Nesting of parenthesised search keys / NOT / OR, and body section part numbers. */
  readonly parseDepthMax: number;
}

export const lineBytesMax = 64 * 1024;
export const literalBytesMax = 64 * 1024 * 1024;
export const literalsPerCommandMax = 64;
// One full-size literal plus room for the command text and a few small MULTIAPPEND siblings.
export const commandBytesMax = literalBytesMax + 4 * 1024 * 1024;
export const parseDepthMax = 32;

export const defaultWireLimits: WireLimits = Object.freeze({
  lineBytesMax,
  literalBytesMax,
  literalsPerCommandMax,
  commandBytesMax,
  parseDepthMax,
});

/** RFC 9051 §2.3.1.1: nz-number and uniqueid are 32-bit unsigned. */
export const numberMax = 0xffff_ffff;
/** RFC 7162 §7: mod-sequence-value is 63-bit. */
export const modseqMax = (1n << 63n) - 1n;
/** RFC 2971: at most 30 field-value pairs in ID. */
export const idPairsMax = 30;
/** RFC 2971: field names at most 30 octets, values at most 1024. */
export const idFieldBytesMax = 30;
export const idValueBytesMax = 1024;
/** RFC 4314 identifiers (an address, anyone, anonymous): at most the engine's octets; and a rights string ("+" / "-" and letters). */
export { aclIdentifierBytesMax } from '../../../engine/api.js';
export const aclRightsBytesMax = 64;
/** Tags longer than this are garbage, not a client; keeps tagged error replies short. */
export const tagBytesMax = 64;
/** Longest literal marker we recognise at a segment end: `~{` + 20 digits + `+}`. */
export const literalMarkerBytesMax = 24;
