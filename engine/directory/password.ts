// Password hashing with scrypt (memory-hard), stored as a self-describing string so the
// parameters can be raised later without invalidating stored hashes:
//
//   $scrypt$ln=15,r=8,p=1$<salt, base64 no padding>$<key, base64 no padding>
//
// ln is log2(N). Verification runs the same KDF whether or not the user exists (against a
// dummy hash) so that response time does not reveal which logins exist.

import { scrypt, timingSafeEqual } from 'node:crypto';
import { assert } from '../assert.js';
import type { RandomBytes } from './directory.js';

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  readonly ln: number;
  readonly r: number;
  readonly p: number;
}

/** N = 2^15, r = 8: 128 * N * r = 32 MiB per hash. */
export const productionScryptParams: ScryptParams = { ln: 15, r: 8, p: 1 };

const saltBytes = 16;
const keyBytes = 32;
// Bounds on what a stored hash may ask for, so a tampered directory cannot make one login
// allocate gigabytes.
const lnMax = 20;
const rMax = 32;
const pMax = 16;

function checkParams(params: ScryptParams): boolean {
  return (
    Number.isInteger(params.ln) && params.ln >= 1 && params.ln <= lnMax &&
    Number.isInteger(params.r) && params.r >= 1 && params.r <= rMax &&
    Number.isInteger(params.p) && params.p >= 1 && params.p <= pMax
  );
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

const hashPattern = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{1,64})\$([A-Za-z0-9+/]{1,128})$/;

function parseHash(encoded: string): ParsedHash | null {
  const match = hashPattern.exec(encoded);
  if (match === null) return null;
  const params = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  if (!checkParams(params)) return null;
  const salt = Buffer.from(match[4]!, 'base64');
  const key = Buffer.from(match[5]!, 'base64');
  // Exact sizes: a truncated key would otherwise verify as a prefix of the real one.
  if (salt.length !== saltBytes || key.length !== keyBytes) return null;
  return { params, salt, key };
}

export function isPasswordHash(encoded: string): boolean {
  return parseHash(encoded) !== null;
}

function derive(password: string, salt: Uint8Array, length: number, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.ln;
  // Node refuses when 128 * N * r exceeds maxmem; leave headroom above the exact need.
  const maxmem = 128 * N * params.r * params.p + 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, { N, r: params.r, p: params.p, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

export class PasswordHasher {
  readonly params: ScryptParams;
  private readonly randomBytes: RandomBytes;
  /** Same parameters, salt and key sizes as a real hash: verifying against it costs the same. */
  readonly dummyHash: string;

  constructor(randomBytes: RandomBytes, params: ScryptParams = productionScryptParams) {
    assert(checkParams(params), `scrypt parameters out of range: ${JSON.stringify(params)}`);
    this.params = params;
    this.randomBytes = randomBytes;
    this.dummyHash = PasswordHasher.encode(params, new Uint8Array(saltBytes), new Uint8Array(keyBytes));
  }

  private static encode(params: ScryptParams, salt: Uint8Array, key: Uint8Array): string {
    return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
  }

  /** The caller validates (and NFC-normalizes) the password first: see validatePassword. */
  async hash(password: string): Promise<string> {
    const salt = this.randomBytes(saltBytes);
    assert(salt.length === saltBytes, 'randomBytes returned the wrong length');
    const key = await derive(password, salt, keyBytes, this.params);
    return PasswordHasher.encode(this.params, salt, key);
  }

  /**
   * True when `password` matches `encoded`. A malformed hash verifies against the dummy
   * hash (so it costs the same) and is false.
   */
  async verify(password: string, encoded: string): Promise<boolean> {
    const parsed = parseHash(encoded);
    const target = parsed ?? parseHash(this.dummyHash);
    assert(target !== null, 'dummy hash must parse');
    const key = await derive(password, target.salt, target.key.length, target.params);
    const equal = timingSafeEqual(key, target.key);
    return parsed !== null && equal;
  }

  /** Runs the KDF against the dummy hash: the cost of a login for a user that does not exist. */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(password, this.dummyHash);
    return false;
  }

  /** True when `encoded` was made with other parameters (or is unreadable) and should be re-hashed at next login. */
  needsRehash(encoded: string): boolean {
    const parsed = parseHash(encoded);
    if (parsed === null) return true;
    const { ln, r, p } = parsed.params;
    return ln !== this.params.ln || r !== this.params.r || p !== this.params.p;
  }
}
