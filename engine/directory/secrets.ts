// Secrets made at first start: random passwords (the demo user, the administrator) and the
// self-signed TLS certificate for localhost that lets every protocol offer TLS out of the box.

import { generateKeyPair, X509Certificate, createPrivateKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import selfsigned from 'selfsigned';
import { assert } from '../assert.js';
import { fail, ok, type Result } from '../errors.js';
import type { RandomBytes } from './directory.js';

const passwordAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const generatedPasswordLength = 20;

/**
 * A random password of base62 characters: 20 characters carry about 119 bits. Rejection
 * sampling keeps every character uniform (256 is not a multiple of 62).
 */
export function generatePassword(randomBytes: RandomBytes, length = generatedPasswordLength): string {
  assert(Number.isInteger(length) && length > 0 && length <= 256, 'password length out of range');
  const limit = 256 - (256 % passwordAlphabet.length); // 248
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit && out.length < length) out += passwordAlphabet[byte % passwordAlphabet.length];
    }
  }
  return out;
}

export interface TlsMaterial {
  /** PEM certificate (chain). */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
  /** SHA-256 of the DER certificate, upper-case hex pairs separated by colons (as openssl prints it). */
  readonly fingerprintSha256: string;
  /** True when this call made a new self-signed certificate. */
  readonly generated: boolean;
}

export interface TlsOptions {
  /** --tls-cert and --tls-key: both or neither. */
  readonly certPath?: string;
  readonly keyPath?: string;
}

export const tlsFolderName = 'tls';
export const tlsCertFileName = 'cert.pem';
export const tlsKeyFileName = 'key.pem';
/** The longest validity browsers and Apple clients accept for a server certificate. */
export const tlsValidityDays = 825;

/**
 * The certificate and key to serve: the operator's files if given, else the ones in
 * `<dataDir>/tls/`, generated there (self-signed for localhost, 127.0.0.1 and ::1) when
 * absent. INVALID_ARGUMENT for unreadable or mismatched files.
 */
export async function ensureTlsCertificate(dataDir: string, options: TlsOptions = {}): Promise<Result<TlsMaterial>> {
  if ((options.certPath === undefined) !== (options.keyPath === undefined)) {
    return fail('INVALID_ARGUMENT', '--tls-cert and --tls-key must be given together');
  }
  if (options.certPath !== undefined && options.keyPath !== undefined) {
    return loadPair(options.certPath, options.keyPath, false);
  }
  const folder = path.join(dataDir, tlsFolderName);
  const certPath = path.join(folder, tlsCertFileName);
  const keyPath = path.join(folder, tlsKeyFileName);
  const [haveCert, haveKey] = await Promise.all([exists(certPath), exists(keyPath)]);
  if (haveCert && haveKey) return loadPair(certPath, keyPath, false);
  if (haveCert !== haveKey) {
    // Never overwrite half of what may be an operator's pair.
    return fail('INVALID_ARGUMENT', `${haveCert ? keyPath : certPath} is missing beside ${haveCert ? certPath : keyPath}; restore it or remove both to generate a new certificate`);
  }
  const made = await generateSelfSigned();
  try {
    await fs.mkdir(folder, { recursive: true, mode: 0o700 });
    // Key first: a crash between the two leaves no cert, so the next start generates again.
    await writeAtomic(keyPath, made.key, 0o600);
    await writeAtomic(certPath, made.cert, 0o644);
  } catch (error) {
    return fail('INVALID_ARGUMENT', `cannot write the TLS certificate into ${folder}: ${(error as Error).message}`);
  }
  return loadPair(certPath, keyPath, true);
}

async function loadPair(certPath: string, keyPath: string, generated: boolean): Promise<Result<TlsMaterial>> {
  let cert: string;
  let key: string;
  try {
    cert = await fs.readFile(certPath, 'utf8');
  } catch (error) {
    return fail('INVALID_ARGUMENT', `cannot read TLS certificate ${certPath}: ${(error as Error).message}`);
  }
  try {
    key = await fs.readFile(keyPath, 'utf8');
  } catch (error) {
    return fail('INVALID_ARGUMENT', `cannot read TLS key ${keyPath}: ${(error as Error).message}`);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    return fail('INVALID_ARGUMENT', `${certPath} is not a PEM certificate: ${(error as Error).message}`);
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) {
      return fail('INVALID_ARGUMENT', `TLS key ${keyPath} does not belong to certificate ${certPath}`);
    }
  } catch (error) {
    return fail('INVALID_ARGUMENT', `${keyPath} is not a PEM private key: ${(error as Error).message}`);
  }
  return ok({ cert, key, fingerprintSha256: x509.fingerprint256, generated });
}

async function generateSelfSigned(): Promise<{ cert: string; key: string }> {
  // Node makes the RSA key natively (fast); selfsigned (node-forge) only builds and signs
  // the certificate around it.
  const keyPair = await new Promise<{ publicKey: string; privateKey: string }>((resolve, reject) => {
    generateKeyPair('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    }, (error, publicKey, privateKey) => (error ? reject(error) : resolve({ publicKey, privateKey })));
  });
  const attrs = [
    { name: 'commonName', value: 'localhost' },
    { name: 'organizationName', value: 'Quire self-signed' },
  ];
  const pems = selfsigned.generate(attrs, {
    days: tlsValidityDays,
    algorithm: 'sha256',
    keyPair,
    extensions: [
      // Not a CA: clients (Firefox) refuse a CA certificate used as a server's own.
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
      ] },
    ],
  } as Parameters<typeof selfsigned.generate>[1]);
  return { cert: pems.cert, key: pems.private };
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const temp = `${file}.tmp`;
  const handle = await fs.open(temp, 'w', mode);
  try {
    await handle.writeFile(text);
    await handle.chmod(mode); // the umask may have cut bits off the open mode; set it exactly
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
  const dir = await fs.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
