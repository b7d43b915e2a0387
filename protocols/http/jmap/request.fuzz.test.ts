// Seeded mutation fuzzing of JMAP requests against a real server over TLS: valid requests
// (result references, filters, sets, imports) are mutated byte-wise and structurally and
// POSTed; every answer must be a request-level problem (400/413, JSON) or a 200 whose method
// responses are all well-formed, never a 500 or a serverFail, and a valid request still works
// afterwards. FUZZ_SEED=n reproduces, FUZZ_ITERATIONS=n sets the count.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzIterations, fuzzSeed, mutate, prng } from '../../fuzz.js';
import { startTestServer } from '../../../test/harness.js';
import { httpsCall } from '../testing.js';

const seed = fuzzSeed(0x6a6d6170);
const iterations = fuzzIterations(400);
const using = ['urn:ietf:params:jmap:core', 'urn:ietf:params:jmap:mail'];

test(`mutated JMAP requests never fail the server (FUZZ_SEED=${seed})`, { timeout: 120_000 }, async () => {
  const quire = await startTestServer();
  const port = quire.port('https');
  const authorization = `Basic ${Buffer.from(`${quire.demo.address}:${quire.demo.password}`).toString('base64')}`;
  const post = (body: Uint8Array | string) => httpsCall(port, quire.cert, 'POST', '/jmap/api', { headers: { authorization, 'content-type': 'application/json' }, body });
  try {
    const session = (await httpsCall(port, quire.cert, 'GET', '/jmap/session', { headers: { authorization } })).json();
    const accountId = session.primaryAccounts['urn:ietf:params:jmap:mail'];
    const upload = await httpsCall(port, quire.cert, 'POST', `/jmap/upload/${accountId}/`, { headers: { authorization, 'content-type': 'message/rfc822' }, body: 'From: a@example.net\r\nSubject: fuzz\r\n\r\nbody\r\n' });
    const blobId = upload.json().blobId as string;
    const corpus = [
      { using, methodCalls: [['Mailbox/get', { accountId, ids: null }, '0'], ['Mailbox/query', { accountId, filter: { role: 'inbox' } }, '1']] },
      { using, methodCalls: [['Email/query', { accountId, filter: { operator: 'AND', conditions: [{ inMailbox: 'F1' }, { from: 'a@' }] }, sort: [{ property: 'receivedAt', isAscending: false }], limit: 5 }, 'q'], ['Email/get', { accountId, '#ids': { resultOf: 'q', name: 'Email/query', path: '/ids' }, properties: ['subject', 'from', 'bodyStructure', 'header:Subject:asText'], fetchAllBodyValues: true }, 'g'], ['Thread/get', { accountId, '#ids': { resultOf: 'g', name: 'Email/get', path: '/list/*/threadId' } }, 't']] },
      { using, methodCalls: [['Email/import', { accountId, emails: { k: { blobId, mailboxIds: { F1: true }, keywords: { $seen: true } } } }, 'i'], ['Email/set', { accountId, update: { '#k': { 'keywords/$flagged': true } } }, 's']] },
      { using, methodCalls: [['Mailbox/set', { accountId, create: { n: { name: 'Fuzz', parentId: null } } }, 'm'], ['Email/changes', { accountId, sinceState: '1-1.1', maxChanges: 10 }, 'c']] },
      { using, methodCalls: [['Email/set', { accountId, create: { d: { mailboxIds: { F2: true }, subject: 'x', textBody: [{ partId: 'a' }], bodyValues: { a: { value: 'hi' } } } } }, 'e'], ['Core/echo', { x: [1, { y: null }] }, 'z']] },
    ].map((request) => Buffer.from(JSON.stringify(request)));
    const random = prng(seed);
    const structural = ['{}', '[]', 'null', '"#"', '{"resultOf":"q","name":"Email/query","path":"/*/*"}', '-1', '1e308', '"M1.1"', '"F999999999"', '{"operator":"NOT","conditions":[{}]}'];
    for (let i = 0; i < iterations; i++) {
      const source = corpus[Math.floor(random() * corpus.length)]!;
      const input = random() < 0.5 ? mutate(source, random) : mutate(source, random, structural);
      const answer = await post(input);
      const context = `FUZZ_SEED=${seed} iteration ${i} input=${JSON.stringify(input.toString('utf8').slice(0, 2000))}`;
      assert.ok([200, 400, 413].includes(answer.status), `${answer.status} ${answer.text().slice(0, 300)}\n${context}`);
      const body = answer.json();
      if (answer.status !== 200) {
        assert.match(String(body.type), /^urn:ietf:params:jmap:error:/, context);
        continue;
      }
      assert.ok(Array.isArray(body.methodResponses), context);
      for (const response of body.methodResponses) {
        assert.ok(Array.isArray(response) && response.length === 3 && typeof response[0] === 'string' && typeof response[2] === 'string', context);
        if (response[0] === 'error') assert.notEqual(response[1].type, 'serverFail', `${JSON.stringify(response)}\n${context}`);
      }
    }
    const after = await post(JSON.stringify({ using, methodCalls: [['Mailbox/get', { accountId, ids: ['F1'] }, 'x']] }));
    assert.equal(after.status, 200);
    assert.equal(after.json().methodResponses[0][1].list[0].name, 'INBOX');
  } finally {
    await quire.stop();
  }
});
