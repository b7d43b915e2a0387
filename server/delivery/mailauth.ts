// Message authentication with `mailauth`: SPF, DKIM and DMARC checks of inbound mail (an
// Authentication-Results header, plus Received-SPF), and DKIM signing of outbound mail for
// the accepted domains with a key generated at first start. The DNS resolver is replaceable
// so tests publish their own records.
//
// The key lives in <data>/secrets/dkim/<selector>.pem; <selector>.txt beside it holds the TXT
// record to publish for each accepted domain (`quire._domainkey.<domain>`).

import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authenticate, dkimSign, type DNSResolver } from 'mailauth';
import type { FrontEndLog } from '../../protocols/frontend.js';
import type { InboundFacts } from '../../protocols/smtp/types.js';
import { dkimKeyBits, dkimSelector, mailAuthTimeoutMs } from './constants.js';

export type { DNSResolver };

export interface DkimKey {
  readonly selector: string;
  readonly privateKeyPem: string;
  /** The TXT record value: `v=DKIM1; k=rsa; p=...`. */
  readonly dnsRecord: string;
  readonly generated: boolean;
}

export const dkimDir = (dataDir: string): string => join(dataDir, 'secrets', 'dkim');

/** The DKIM key of this data directory, generated (and written, 0600) on first use. */
export function ensureDkimKey(dataDir: string, selector = dkimSelector): DkimKey {
  const dir = dkimDir(dataDir);
  const keyPath = join(dir, `${selector}.pem`);
  const recordPath = join(dir, `${selector}.txt`);
  let generated = false;
  if (!existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: dkimKeyBits });
    writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    generated = true;
  }
  const privateKeyPem = readFileSync(keyPath, 'utf8');
  // The DKIM p= value: the public key as DER SubjectPublicKeyInfo, base64.
  const dnsRecord = `v=DKIM1; k=rsa; p=${createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' }).toString('base64')}`;
  if (!existsSync(recordPath)) writeFileSync(recordPath, `${selector}._domainkey.<domain> IN TXT "${dnsRecord}"\n`);
  return { selector, privateKeyPem, dnsRecord, generated };
}

/** Prepends a DKIM-Signature for `domain`; the message unchanged when signing fails (logged). */
export async function signMessage(message: Uint8Array, domain: string, key: DkimKey, log: FrontEndLog, signTime = new Date()): Promise<Uint8Array> {
  try {
    // mailauth's bundled types describe a flat option set; the implementation (and its README) take signatureData.
    const options = { canonicalization: 'relaxed/relaxed', algorithm: 'rsa-sha256', signTime, signatureData: [{ signingDomain: domain, selector: key.selector, privateKey: key.privateKeyPem }] };
    const result = await dkimSign(Buffer.from(message), options as unknown as Parameters<typeof dkimSign>[1]);
    if (result.errors.length > 0) throw result.errors[0];
    return Buffer.concat([Buffer.from(result.signatures, 'latin1'), Buffer.from(message)]);
  } catch (error) {
    log.warn({ domain, error: (error as Error).message }, 'DKIM signing failed; sending unsigned');
    return message;
  }
}

/**
 * SPF, DKIM and DMARC of an inbound message: the headers to prepend (Received-SPF and
 * Authentication-Results, CRLF-terminated), or null when the checks fail or take too long.
 */
export async function checkInbound(message: Uint8Array, facts: InboundFacts, options: { mta: string; resolver?: DNSResolver; log: FrontEndLog }): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      authenticate(Buffer.from(message), {
        ip: facts.clientAddress,
        helo: facts.helo,
        sender: facts.mailFrom,
        mta: options.mta,
        disableArc: true,
        disableBimi: true,
        ...(options.resolver === undefined ? {} : { resolver: options.resolver }),
      }),
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), mailAuthTimeoutMs);
      }),
    ]);
    if (result === null) {
      options.log.warn({ helo: facts.helo }, 'SPF/DKIM/DMARC checks timed out; no Authentication-Results added');
      return null;
    }
    return result.headers;
  } catch (error) {
    options.log.warn({ error: (error as Error).message }, 'SPF/DKIM/DMARC checks failed; no Authentication-Results added');
    return null;
  } finally {
    clearTimeout(timer);
  }
}
