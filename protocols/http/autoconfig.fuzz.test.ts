// Seeded fuzzing of what client set-up parses and writes: Autodiscover request bodies, Basic
// credentials and `emailaddress` values mutated from valid ones never throw and never yield a
// value past its cap; vCard text always unfolds and unescapes back to what went in, with no
// line over 75 octets. Plus each cap at the limit and limit + 1. FUZZ_SEED=n reproduces a run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzIterations, fuzzSeed, mutate, prng } from '../fuzz.js';
import {
  addressParts,
  authorizationBytesMax,
  basicCredentials,
  emailAddressBytesMax,
  parseAutodiscoverRequest,
  vcardFold,
  vcardLineBytesMax,
  vcardText,
} from './autoconfig.js';

const request = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>alice@example.org</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;
const basic = `Basic ${Buffer.from('alice@example.org:pässword').toString('base64')}`;

function unescapeVcardText(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

test('limits: Authorization header, emailaddress, vCard line at the limit and limit + 1', () => {
  const password = 'x'.repeat(1024);
  const prefix = 'Basic ';
  const credentialsBytes = Math.floor(((authorizationBytesMax - prefix.length) / 4) * 3);
  const login = `${'a'.repeat(credentialsBytes - password.length - 1 - '@example.org'.length)}@example.org`;
  // Base64 without its padding (Node decodes it), so the header can be any length.
  const atLimit = `${prefix}${Buffer.from(`${login}:${password}`).toString('base64').replace(/=+$/, '')}`;
  assert.equal(atLimit.length, authorizationBytesMax);
  assert.deepEqual(basicCredentials(atLimit), { login, password });
  assert.equal(basicCredentials(`${atLimit}A`), null);

  const address = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(emailAddressBytesMax - 64 - 1 - 63 - 1 - 63 - 1)}`;
  assert.equal(address.length, emailAddressBytesMax);
  assert.equal(addressParts(address)?.address, address);
  assert.equal(addressParts(`a${address}`), null);
  assert.equal(addressParts('nobody'), null);
  assert.equal(addressParts('a b@example.org'), null);

  assert.equal(vcardFold('x'.repeat(vcardLineBytesMax)), 'x'.repeat(vcardLineBytesMax));
  assert.equal(vcardFold('x'.repeat(vcardLineBytesMax + 1)), `${'x'.repeat(vcardLineBytesMax)}\r\n x`);
});

test('fuzz: mutated requests, credentials and addresses never throw and stay within their caps', () => {
  const seed = fuzzSeed(4);
  const random = prng(seed);
  const iterations = fuzzIterations(3_000);
  for (let i = 0; i < iterations; i++) {
    const where = `FUZZ_SEED=${seed} iteration ${i}`;
    const body = mutate(Buffer.from(request), random).toString('utf8');
    const parsed = parseAutodiscoverRequest(body);
    if (parsed !== null) {
      assert.ok(Buffer.byteLength(parsed.emailAddress) <= emailAddressBytesMax * 4 && parsed.emailAddress.length <= emailAddressBytesMax, where);
      assert.ok(!/[<\s]/.test(parsed.emailAddress), where);
    }
    const header = mutate(Buffer.from(basic), random).toString('latin1');
    const credentials = basicCredentials(header);
    if (credentials !== null) {
      assert.ok(header.length <= authorizationBytesMax && credentials.login.length > 0, where);
      assert.ok(!credentials.login.includes(':'), where);
    }
    const parts = addressParts(mutate(Buffer.from('alice@example.org'), random).toString('utf8'));
    if (parts !== null) assert.ok(Buffer.byteLength(parts.address) <= emailAddressBytesMax && parts.address.endsWith(`@${parts.domain}`), where);
  }
});

test('fuzz: vCard text escapes, folds at 75 octets and comes back unchanged', () => {
  const seed = fuzzSeed(5);
  const random = prng(seed);
  const alphabet = ['a', 'Z', ' ', ',', ';', '\\', '\n', '\r\n', 'é', '€', '𝄞', ':', '"'];
  for (let i = 0; i < fuzzIterations(2_000); i++) {
    let text = '';
    const length = Math.floor(random() * 200);
    for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)]!;
    const line = `FN:${vcardText(text)}`;
    assert.ok(!/[\r\n]/.test(line), `FUZZ_SEED=${seed} iteration ${i}: a raw line break in the value`);
    const folded = vcardFold(line);
    for (const piece of folded.split('\r\n')) assert.ok(Buffer.byteLength(piece) <= vcardLineBytesMax, `FUZZ_SEED=${seed} iteration ${i}`);
    const unfolded = folded.replace(/\r\n /g, '');
    assert.equal(unfolded, line);
    assert.equal(unescapeVcardText(unfolded.slice(3)), text.replace(/\r\n/g, '\n'), `FUZZ_SEED=${seed} iteration ${i}`);
  }
});
