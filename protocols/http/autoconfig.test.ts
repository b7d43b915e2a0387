// Proves client set-up over real sockets with curl against a real server (startTestServer):
// Thunderbird autoconfig on both paths with the server's hostname and the ports it really
// serves, Autodiscover behind the user's password, and the vCard 4 address book with an ETag
// that answers 304 until the directory changes. Also the pieces at their limits: the request
// body cap, vCard line folding at 75 octets, XML and vCard escaping.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../../test/harness.js';
import { type CurlAnswer, curlHttps } from './testing.js';
import { autodiscoverBodyBytesMax, endpointsOf, parseAutodiscoverRequest, vcardFold, vcardLineBytesMax, vcards, vcardText, xmlEscape } from './autoconfig.js';

let t: TestServer;
let caFile: string;

before(async () => {
  t = await startTestServer();
  caFile = join(t.dataDir, 'ca-for-curl.pem');
  writeFileSync(caFile, t.cert);
});

after(async () => {
  await t?.stop();
});

/** curl over TLS to the server's HTTPS port, verifying its certificate for "localhost". */
function curl(path: string, options: { user?: string; data?: string; headers?: string[] } = {}): Promise<CurlAnswer> {
  return curlHttps(t.port('https'), caFile, path, { ...(options.user === undefined ? {} : { user: options.user }), ...(options.data === undefined ? {} : { xml: options.data }), ...(options.headers === undefined ? {} : { headers: options.headers }) });
}

const autodiscoverRequest = (address: string, schema = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a') =>
  `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>${address}</EMailAddress>
    <AcceptableResponseSchema>${schema}</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;

test('Thunderbird autoconfig on both paths: hostname and the ports the server really serves', async () => {
  const served = endpointsOf(t.server.ports);
  assert.ok(served.some((e) => e.protocol === 'imap'), `the server serves IMAP: ${JSON.stringify(t.server.ports)}`);
  for (const path of ['/.well-known/autoconfig/mail/config-v1.1.xml', '/mail/config-v1.1.xml']) {
    const answer = await curl(`${path}?emailaddress=${encodeURIComponent('demo@example.org')}`);
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.headers['content-type']!, /^application\/xml/);
    assert.match(answer.body, /<emailProvider id="example.org">/);
    const servers = [...answer.body.matchAll(/<(incoming|outgoing)Server type="(\w+)">\s*<hostname>([^<]+)<\/hostname>\s*<port>(\d+)<\/port>\s*<socketType>(\w+)<\/socketType>/g)]
      .map((m) => ({ protocol: m[2], hostname: m[3], port: Number(m[4]), socketType: m[5] }));
    assert.deepEqual(servers, served.map((e) => ({ protocol: e.protocol, hostname: 'localhost', port: e.port, socketType: e.security === 'tls' ? 'SSL' : 'STARTTLS' })));
    assert.ok(servers.some((s) => s.port === t.port('imaps') && s.socketType === 'SSL'));
    assert.ok(servers.some((s) => s.port === t.port('imap') && s.socketType === 'STARTTLS'));
    assert.match(answer.body, /<username>%EMAILADDRESS%<\/username>/);
  }
  assert.equal((await curl('/mail/config-v1.1.xml?emailaddress=someone%40elsewhere.net')).status, 404);
  assert.equal((await curl('/mail/config-v1.1.xml')).status, 400);
  assert.equal((await curl('/mail/config-v1.1.xml?emailaddress=not-an-address')).status, 400);
});

test('Autodiscover: 401 without the right password; settings for the logged-in user; errors 500 and 600', async () => {
  const body = autodiscoverRequest(t.demo.address);
  const anonymous = await curl('/autodiscover/autodiscover.xml', { data: body });
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.headers['www-authenticate']!, /^Basic realm="quire"/);
  assert.equal((await curl('/autodiscover/autodiscover.xml', { data: body, user: `${t.demo.address}:wrong` })).status, 401);

  const user = `${t.demo.address}:${t.demo.password}`;
  for (const path of ['/autodiscover/autodiscover.xml', '/Autodiscover/Autodiscover.xml']) {
    const answer = await curl(path, { data: body, user });
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.body, /<AutoDiscoverSMTPAddress>demo@example.org<\/AutoDiscoverSMTPAddress>/);
    const protocols = [...answer.body.matchAll(/<Type>(\w+)<\/Type>\s*<Server>([^<]+)<\/Server>\s*<Port>(\d+)<\/Port>\s*<LoginName>([^<]+)<\/LoginName>[\s\S]*?<Encryption>(\w+)<\/Encryption>/g)]
      .map((m) => ({ type: m[1], server: m[2], port: Number(m[3]), login: m[4], encryption: m[5] }));
    assert.deepEqual(protocols, endpointsOf(t.server.ports).map((e) => ({ type: e.protocol.toUpperCase(), server: 'localhost', port: e.port, login: 'demo@example.org', encryption: e.security === 'tls' ? 'SSL' : 'TLS' })));
  }
  const other = await curl('/autodiscover/autodiscover.xml', { data: autodiscoverRequest('someone@example.org'), user });
  assert.match(other.body, /<ErrorCode>500<\/ErrorCode>/);
  const mobile = await curl('/autodiscover/autodiscover.xml', { data: autodiscoverRequest(t.demo.address, 'http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006'), user });
  assert.match(mobile.body, /<ErrorCode>600<\/ErrorCode>/);

  // The body cap, at the limit and one byte past it.
  const pad = (total: number) => body.replace('</Autodiscover>', `${' '.repeat(total - Buffer.byteLength(body))}</Autodiscover>`);
  assert.equal(Buffer.byteLength(pad(autodiscoverBodyBytesMax)), autodiscoverBodyBytesMax);
  assert.equal((await curl('/autodiscover/autodiscover.xml', { data: pad(autodiscoverBodyBytesMax), user })).status, 200);
  assert.equal((await curl('/autodiscover/autodiscover.xml', { data: pad(autodiscoverBodyBytesMax + 1), user })).status, 413);
});

test('address book: vCard 4 behind a password, 304 for the current ETag, a new ETag when the directory changes', async () => {
  const user = `${t.demo.address}:${t.demo.password}`;
  assert.equal((await curl('/addressbook/v1/global.vcf')).status, 401);
  const first = await curl('/addressbook/v1/global.vcf', { user });
  assert.equal(first.status, 200, first.body);
  assert.match(first.headers['content-type']!, /^text\/vcard/);
  assert.match(first.body, /^BEGIN:VCARD\r\nVERSION:4\.0\r\n/);
  assert.match(first.body, /\r\nEMAIL;TYPE=work;PREF=1:demo@example\.org\r\n/);
  const etag = first.headers.etag!;
  assert.match(etag, /^"\d+-[0-9a-f]{16}"$/);

  const unchanged = await curl('/addressbook/v1/global.vcf', { user, headers: [`If-None-Match: ${etag}`] });
  assert.equal(unchanged.status, 304);
  assert.equal(unchanged.body, '');

  await t.addUser('zoe@example.org', 'zoe-password-1');
  const changed = await curl('/addressbook/v1/global.vcf', { user, headers: [`If-None-Match: ${etag}`] });
  assert.equal(changed.status, 200);
  assert.notEqual(changed.headers.etag, etag);
  assert.ok(Number(changed.headers['x-quire-directory-version']) > Number(first.headers['x-quire-directory-version']));
  assert.match(changed.body, /\r\nFN:zoe\r\nEMAIL;TYPE=work;PREF=1:zoe@example\.org\r\n/);
  assert.equal((await curl('/addressbook/v1/global.vcf', { user, headers: [`If-None-Match: ${changed.headers.etag}`] })).status, 304);
});

test('vCard folding at 75 octets and 76, never inside a UTF-8 sequence; escaping', () => {
  const at = `FN:${'a'.repeat(vcardLineBytesMax - 3)}`;
  assert.equal(vcardFold(at), at);
  const over = `${at}b`;
  assert.equal(vcardFold(over), `${at}\r\n b`);
  const wide = `FN:${'é'.repeat(60)}`; // 3 + 120 octets
  const folded = vcardFold(wide);
  for (const line of folded.split('\r\n')) assert.ok(Buffer.byteLength(line) <= vcardLineBytesMax, line);
  assert.equal(folded.replace(/\r\n /g, ''), wide);
  assert.equal(vcardText('Doe, Jane; \\ the\nsecond'), 'Doe\\, Jane\\; \\\\ the\\nsecond');
  assert.equal(xmlEscape(`<a href="x">&'</a>`), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
  const card = vcards([{ kind: 'group', address: 'staff@example.org', displayName: 'Staff, all', aliases: [], members: ['a@example.org'], id: 'group:staff' }]);
  assert.match(card, /KIND:group\r\nFN:Staff\\, all\r\nEMAIL;TYPE=work;PREF=1:staff@example.org\r\nMEMBER:mailto:a@example.org\r\n/);
  assert.equal(parseAutodiscoverRequest('<x/>'), null);
  assert.equal(parseAutodiscoverRequest(autodiscoverRequest(`${'a'.repeat(255)}@x`)), null);
});
