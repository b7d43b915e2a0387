// Proves JMAP (RFC 8620, RFC 8621) on a real server over real TLS with raw HTTP: Basic login
// (401 without or with a wrong password), the session resource, the request-level problems
// and method-level errors with the limits at the limit and one past it, RFC 8620's own
// examples (Core/echo, the result-reference chain of sec. 3.7), upload + Email/import +
// Email/get with the content API's fields and body values, query filters and sorts,
// Email/set (create with an attachment, keywords, move, destroy), Mailbox/set, blob download,
// changes and queryChanges, a change made over IMAP (imapflow) showing in Email/changes and
// the other way round, EventSource push, and that the JSON log holds no password or body.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { ImapFlow } from 'imapflow';
import { startTestServer, type TestServer } from '../../../test/harness.js';
import { httpsCall } from '../testing.js';
import { type Call, jmapClient } from './testing.js';
import { jmapLimits } from './core.js';

const using = ['urn:ietf:params:jmap:core', 'urn:ietf:params:jmap:mail'];

const client = (quire: TestServer, address: string, password: string) => jmapClient(quire, address, password, using);

const message = (subject: string, from: string, body: string, extra = '') =>
  `From: ${from}\r\nTo: demo@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.net>\r\nDate: Tue, 1 Jul 2025 10:00:00 +0200\r\n${extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}\r\n`;

test('JMAP over HTTPS: session, errors and limits, RFC examples, mail, changes across IMAP, push, no secrets logged', { timeout: 120_000 }, async () => {
  const lines: string[] = [];
  const quire = await startTestServer({ logDestination: { write: (line: string) => void lines.push(line) } });
  const jmap = client(quire, quire.demo.address, quire.demo.password);
  const bodySecret = 'Body-marker-7731 the secret plan';
  try {
    // ---- authentication and the session resource ----
    const port = quire.port('https');
    assert.equal((await httpsCall(port, quire.cert, 'GET', '/.well-known/jmap')).status, 401);
    const wrong = await httpsCall(port, quire.cert, 'GET', '/.well-known/jmap', { headers: { authorization: `Basic ${Buffer.from(`${quire.demo.address}:nope`).toString('base64')}` } });
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers['www-authenticate']), /^Basic/);
    assert.equal((await httpsCall(port, quire.cert, 'POST', '/jmap/api', { headers: { 'content-type': 'application/json' }, body: '{}' })).status, 401);
    const sessionAnswer = await jmap.get('/.well-known/jmap');
    assert.equal(sessionAnswer.status, 200);
    const session = sessionAnswer.json();
    assert.deepEqual(Object.keys(session.capabilities).sort(), [...using, 'urn:ietf:params:jmap:submission', 'urn:ietf:params:jmap:vacationresponse']);
    assert.equal(session.capabilities[using[0]!].maxCallsInRequest, jmapLimits.maxCallsInRequest);
    assert.equal(session.username, quire.demo.address);
    const accountId = session.primaryAccounts['urn:ietf:params:jmap:mail'] as string;
    assert.equal(session.accounts[accountId].name, quire.demo.address);
    assert.equal(session.apiUrl, `https://127.0.0.1:${port}/jmap/api`);
    for (const template of ['{accountId}', '{blobId}', '{name}', '{type}']) assert.ok(session.downloadUrl.includes(template));

    // ---- request-level problems (RFC 8620 3.6.1) ----
    const notJson = await jmap.raw('{"using": [');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json().type, 'urn:ietf:params:jmap:error:notJSON');
    assert.match(String(notJson.headers['content-type']), /problem\+json/);
    assert.equal((await jmap.raw('[1,2]')).json().type, 'urn:ietf:params:jmap:error:notRequest');
    assert.equal((await jmap.raw(JSON.stringify({ using: ['urn:x:nope'], methodCalls: [] }))).json().type, 'urn:ietf:params:jmap:error:unknownCapability');
    const echo = (n: number) => JSON.stringify({ using, methodCalls: Array.from({ length: n }, (_, i) => ['Core/echo', { i }, `e${i}`]) });
    assert.equal((await jmap.raw(echo(jmapLimits.maxCallsInRequest))).status, 200, 'maxCallsInRequest calls: fine');
    const tooMany = await jmap.raw(echo(jmapLimits.maxCallsInRequest + 1));
    assert.deepEqual([tooMany.status, tooMany.json().type, tooMany.json().limit], [400, 'urn:ietf:params:jmap:error:limit', 'maxCallsInRequest']);
    const huge = await jmap.raw(JSON.stringify({ using, methodCalls: [['Core/echo', { pad: 'x'.repeat(jmapLimits.maxSizeRequest) }, 'h']] }));
    assert.equal(huge.status, 413);
    assert.equal(huge.json().limit, 'maxSizeRequest');

    // ---- RFC 8620 4.1: Core/echo ----
    const [echoed] = await jmap.calls([['Core/echo', { hello: true, high: 5 }, 'b3ff']]);
    assert.deepEqual(echoed, ['Core/echo', { hello: true, high: 5 }, 'b3ff']);

    // ---- method-level errors ----
    const errors = await jmap.calls([
      ['Nope/get', {}, 'a'],
      ['Mailbox/get', { accountId: 'someone-else' }, 'b'],
      ['Email/get', { accountId, '#ids': { resultOf: 'zz', name: 'Email/query', path: '/ids' } }, 'c'],
      ['Email/get', { accountId, ids: Array.from({ length: jmapLimits.maxObjectsInGet + 1 }, (_, i) => `M1.${i + 1}`) }, 'd'],
      ['Email/get', { accountId, ids: Array.from({ length: jmapLimits.maxObjectsInGet }, (_, i) => `M1.${i + 1}`), properties: ['id'] }, 'e'],
      ['Email/changes', { accountId, sinceState: 'garbage' }, 'f'],
      ['Email/query', { accountId, sort: [{ property: 'colour' }] }, 'g'],
      ['Email/query', { accountId, filter: { colour: 'red' } }, 'h'],
    ]);
    assert.deepEqual(errors.map(([name, args]) => (name === 'error' ? args.type : name)), [
      'unknownMethod', 'accountNotFound', 'invalidResultReference', 'requestTooLarge', 'Email/get', 'cannotCalculateChanges', 'unsupportedSort', 'unsupportedFilter',
    ]);
    assert.equal(errors[4]![1].notFound.length, jmapLimits.maxObjectsInGet, 'maxObjectsInGet ids: answered');
    const [mailOnly] = await (async () => {
      const answer = await jmap.raw(JSON.stringify({ using: ['urn:ietf:params:jmap:core'], methodCalls: [['Mailbox/get', { accountId }, 'm']] }));
      return answer.json().methodResponses as Call[];
    })();
    assert.equal(mailOnly![1].type, 'unknownMethod', 'mail methods need the mail capability in using');

    // ---- mailboxes ----
    const mailboxes = await jmap.one('Mailbox/get', { accountId, ids: null });
    const inbox = mailboxes.list.find((m: any) => m.role === 'inbox');
    const trash = mailboxes.list.find((m: any) => m.role === 'trash');
    assert.ok(inbox && trash);
    assert.equal(inbox.name, 'INBOX');
    const state0 = mailboxes.state as string;

    // ---- upload, import, get ----
    const blob = await jmap.upload(accountId, message('Hello =?UTF-8?Q?W=C3=B6rld?=', '"Alice" <alice@example.net>', bodySecret), 'message/rfc822');
    const blob2 = await jmap.upload(accountId, message('Second', 'bob@example.net', 'Another body'), 'message/rfc822');
    const imported = await jmap.one('Email/import', {
      accountId,
      emails: { a: { blobId: blob.blobId, mailboxIds: { [inbox.id]: true }, keywords: { $flagged: true }, receivedAt: '2025-07-01T08:00:00Z' }, b: { blobId: blob2.blobId, mailboxIds: { [inbox.id]: true }, receivedAt: '2025-07-02T08:00:00Z' } },
    });
    assert.equal(imported.oldState, state0);
    const idA = imported.created.a.id as string;
    const idB = imported.created.b.id as string;
    assert.equal(imported.created.a.size, blob.size);
    const missingBlob = await jmap.one('Email/import', { accountId, emails: { x: { blobId: 'Unope', mailboxIds: { [inbox.id]: true } } } });
    assert.equal(missingBlob.notCreated.x.type, 'blobNotFound');

    const got = await jmap.one('Email/get', { accountId, ids: [idA], fetchTextBodyValues: true, properties: [...['id', 'subject', 'from', 'to', 'sentAt', 'receivedAt', 'keywords', 'mailboxIds', 'messageId', 'preview', 'textBody', 'bodyValues', 'hasAttachment', 'size', 'threadId', 'blobId'], 'header:Subject:asText', 'header:X-Nope'] });
    const email = got.list[0];
    assert.equal(email.subject, 'Hello Wörld');
    assert.equal(email['header:Subject:asText'], 'Hello Wörld');
    assert.equal(email['header:X-Nope'], null);
    assert.deepEqual(email.from, [{ name: 'Alice', email: 'alice@example.net' }]);
    assert.deepEqual(email.to, [{ name: null, email: 'demo@example.org' }]);
    assert.equal(email.sentAt, '2025-07-01T10:00:00+02:00');
    assert.equal(email.receivedAt, '2025-07-01T08:00:00Z');
    assert.deepEqual(email.keywords, { $flagged: true });
    assert.deepEqual(email.mailboxIds, { [inbox.id]: true });
    assert.deepEqual(email.messageId, ['HelloUTF8QWC3B6rld@example.net']);
    assert.equal(email.hasAttachment, false);
    assert.equal(email.textBody.length, 1);
    assert.equal(email.bodyValues[email.textBody[0].partId].value, `${bodySecret}\r\n`);
    assert.match(email.preview, /Body-marker-7731/);
    const download = await jmap.get(`/jmap/download/${accountId}/${email.blobId}/m.eml?accept=message/rfc822`);
    assert.equal(download.status, 200);
    assert.equal(download.text(), message('Hello =?UTF-8?Q?W=C3=B6rld?=', '"Alice" <alice@example.net>', bodySecret));
    assert.equal((await jmap.get(`/jmap/download/${accountId}/B999.9/x`)).status, 404);

    // ---- RFC 8620 3.7: the result-reference chain (query → get threadId → Thread/get → get) ----
    const chain = await jmap.calls([
      ['Email/query', { accountId, filter: { inMailbox: inbox.id }, sort: [{ property: 'receivedAt', isAscending: false }], collapseThreads: true, position: 0, limit: 10, calculateTotal: true }, 't0'],
      ['Email/get', { accountId, '#ids': { resultOf: 't0', name: 'Email/query', path: '/ids' }, properties: ['threadId'] }, 't1'],
      ['Thread/get', { accountId, '#ids': { resultOf: 't1', name: 'Email/get', path: '/list/*/threadId' } }, 't2'],
      ['Email/get', { accountId, '#ids': { resultOf: 't2', name: 'Thread/get', path: '/list/*/emailIds' }, properties: ['from', 'receivedAt', 'subject'] }, 't3'],
    ]);
    assert.deepEqual(chain[0]![1].ids, [idB, idA], 'newest first');
    assert.equal(chain[0]![1].total, 2);
    assert.equal(chain[2]![1].list.length, 2);
    assert.deepEqual(chain[3]![1].list.map((e: any) => e.subject).sort(), ['Hello Wörld', 'Second']);

    // ---- query filters ----
    const ids = async (filter: object, sort?: object[]) => (await jmap.one('Email/query', { accountId, filter, ...(sort ? { sort } : {}) })).ids as string[];
    assert.deepEqual(await ids({ from: 'alice' }), [idA]);
    assert.deepEqual(await ids({ subject: 'second' }), [idB]);
    assert.deepEqual(await ids({ hasKeyword: '$flagged' }), [idA]);
    assert.deepEqual(await ids({ operator: 'NOT', conditions: [{ hasKeyword: '$flagged' }] }), [idB]);
    assert.deepEqual(await ids({ text: 'marker-7731' }), [idA]);
    assert.deepEqual(await ids({ after: '2025-07-01T12:00:00Z' }), [idB]);
    assert.deepEqual(await ids({ inMailbox: trash.id }), []);
    assert.deepEqual(await ids({}, [{ property: 'subject', isAscending: true }]), [idA, idB]);
    const anchored = await jmap.one('Email/query', { accountId, anchor: idA, anchorOffset: 0, sort: [{ property: 'receivedAt', isAscending: true }] });
    assert.deepEqual([anchored.position, anchored.ids], [0, [idA, idB]]);
    const query0 = await jmap.one('Email/query', { accountId, filter: { inMailbox: inbox.id }, sort: [{ property: 'receivedAt', isAscending: false }] });

    // ---- a change over IMAP shows in Email/changes; the state came from the same modseqs ----
    const stateBeforeImap = (await jmap.one('Email/get', { accountId, ids: [] })).state as string;
    // A blobId names the message's folder and UID: `B<folderId>.<uid>`.
    const uidOf = async (id: string) => ((await jmap.one('Email/get', { accountId, ids: [id], properties: ['blobId'] })).list[0].blobId as string).split('.')[1]!;
    const imap = new ImapFlow({ host: '127.0.0.1', port: quire.port('imaps'), secure: true, tls: { ca: [quire.cert] }, auth: { user: quire.demo.address, pass: quire.demo.password }, logger: false });
    await imap.connect();
    try {
      await imap.mailboxOpen('INBOX');
      await imap.messageFlagsAdd({ uid: await uidOf(idB) }, ['\\Seen'], { uid: true });
      const imapChanges = await jmap.one('Email/changes', { accountId, sinceState: stateBeforeImap });
      assert.deepEqual([imapChanges.created, imapChanges.updated, imapChanges.destroyed], [[], [idB], []]);
      assert.notEqual(imapChanges.newState, stateBeforeImap);
      const b = await jmap.one('Email/get', { accountId, ids: [idB], properties: ['keywords'] });
      assert.deepEqual(b.list[0].keywords, { $seen: true });

      // ... and a JMAP change shows over IMAP.
      const set = await jmap.one('Email/set', { accountId, ifInState: imapChanges.newState, update: { [idA]: { 'keywords/$seen': true, 'keywords/$flagged': null } } });
      assert.deepEqual(set.updated, { [idA]: null });
      const fetched = await imap.fetchOne(await uidOf(idA), { flags: true }, { uid: true });
      assert.ok(fetched && fetched.flags?.has('\\Seen') && !fetched.flags.has('\\Flagged'), 'IMAP sees the JMAP keyword change');
      const stale = await jmap.calls([['Email/set', { accountId, ifInState: imapChanges.newState, update: { [idA]: { keywords: {} } } }, 's']]);
      assert.equal(stale[0]![1].type, 'stateMismatch');
    } finally {
      await imap.logout();
    }

    // ---- Email/set create with an attachment, move, destroy; queryChanges ----
    const attachment = await jmap.upload(accountId, new Uint8Array([0, 1, 2, 250, 251, 252]), 'application/octet-stream');
    const created = await jmap.one('Email/set', {
      accountId,
      create: {
        draft: {
          mailboxIds: { [inbox.id]: true },
          keywords: { $draft: true },
          from: [{ name: 'Démo', email: 'demo@example.org' }],
          to: [{ email: 'alice@example.net' }],
          subject: 'Draft with attachment',
          textBody: [{ partId: 't', type: 'text/plain' }],
          bodyValues: { t: { value: 'Hello Alice' } },
          attachments: [{ blobId: attachment.blobId, type: 'application/octet-stream', name: 'data.bin' }],
        },
        bad: { mailboxIds: { [inbox.id]: true, [trash.id]: true } },
      },
    });
    assert.equal(created.notCreated.bad.type, 'tooManyMailboxes', 'maxMailboxesPerEmail is 1');
    const idC = created.created.draft.id as string;
    const draft = (await jmap.one('Email/get', { accountId, ids: [idC], properties: ['subject', 'from', 'attachments', 'hasAttachment', 'keywords'], fetchTextBodyValues: true })).list[0];
    assert.equal(draft.subject, 'Draft with attachment');
    assert.deepEqual(draft.from, [{ name: 'Démo', email: 'demo@example.org' }]);
    assert.equal(draft.hasAttachment, true);
    assert.equal(draft.attachments[0].name, 'data.bin');
    const part = await jmap.get(`/jmap/download/${accountId}/${draft.attachments[0].blobId}/data.bin`);
    assert.deepEqual([...part.body], [0, 1, 2, 250, 251, 252]);

    const qc = await jmap.one('Email/queryChanges', { accountId, filter: { inMailbox: inbox.id }, sort: [{ property: 'receivedAt', isAscending: false }], sinceQueryState: query0.queryState });
    assert.ok(qc.added.some((a: any) => a.id === idC), 'the created email is added');
    assert.ok(qc.removed.includes(idA) && qc.removed.includes(idB), 'changed emails are removed and re-added');

    // A move keeps the Email's id (the engine's email id, IMAP OBJECTID): changes say updated.
    const stateBeforeMove = (await jmap.one('Email/get', { accountId, ids: [] })).state as string;
    const moved = await jmap.one('Email/set', { accountId, update: { [idC]: { [`mailboxIds/${inbox.id}`]: null, [`mailboxIds/${trash.id}`]: true } } });
    assert.deepEqual(moved.updated, { [idC]: null });
    assert.deepEqual((await jmap.one('Email/get', { accountId, ids: [idC], properties: ['mailboxIds'] })).list[0].mailboxIds, { [trash.id]: true });
    const moveChanges = await jmap.one('Email/changes', { accountId, sinceState: stateBeforeMove });
    assert.deepEqual([moveChanges.created, moveChanges.updated, moveChanges.destroyed], [[], [idC], []]);
    const twoMailboxes = await jmap.one('Email/set', { accountId, update: { [idC]: { mailboxIds: { [inbox.id]: true, [trash.id]: true } } } });
    assert.equal(twoMailboxes.notUpdated[idC].type, 'tooManyMailboxes');
    // An IMAP COPY keeps the email id too: one Email in two mailboxes; a move to one of them drops the other copy.
    const copier = new ImapFlow({ host: '127.0.0.1', port: quire.port('imaps'), secure: true, tls: { ca: [quire.cert] }, auth: { user: quire.demo.address, pass: quire.demo.password }, logger: false });
    await copier.connect();
    try {
      await copier.mailboxOpen(trash.name);
      await copier.messageCopy(await uidOf(idC), 'INBOX', { uid: true });
    } finally {
      await copier.logout();
    }
    assert.deepEqual((await jmap.one('Email/get', { accountId, ids: [idC], properties: ['mailboxIds'] })).list[0].mailboxIds, { [inbox.id]: true, [trash.id]: true });
    await jmap.one('Email/set', { accountId, update: { [idC]: { mailboxIds: { [inbox.id]: true } } } });
    assert.deepEqual((await jmap.one('Email/get', { accountId, ids: [idC], properties: ['mailboxIds'] })).list[0].mailboxIds, { [inbox.id]: true });
    const stateBeforeDestroy = (await jmap.one('Email/get', { accountId, ids: [] })).state as string;
    const destroyed = await jmap.one('Email/set', { accountId, destroy: [idC, 'Mnope'] });
    assert.deepEqual(destroyed.destroyed, [idC]);
    assert.equal(destroyed.notDestroyed.Mnope.type, 'notFound');
    const destroyChanges = await jmap.one('Email/changes', { accountId, sinceState: stateBeforeDestroy });
    assert.deepEqual([destroyChanges.created, destroyChanges.updated, destroyChanges.destroyed], [[], [], [idC]]);

    // ---- Mailbox/set and Mailbox/changes ----
    const mboxState = (await jmap.one('Mailbox/get', { accountId, ids: [] })).state as string;
    const made = await jmap.one('Mailbox/set', { accountId, create: { p: { name: 'Projects' }, c: { name: 'Quire', parentId: '#p' }, bad: { name: 'a/b' } } });
    assert.equal(made.notCreated.bad.type, 'invalidProperties');
    const parent = made.created.p.id as string;
    const child = made.created.c.id as string;
    const hierarchy = await jmap.one('Mailbox/get', { accountId, ids: [child] });
    assert.deepEqual([hierarchy.list[0].name, hierarchy.list[0].parentId], ['Quire', parent]);
    const mboxChanges = await jmap.one('Mailbox/changes', { accountId, sinceState: mboxState });
    assert.deepEqual(mboxChanges.created.sort(), [parent, child].sort());
    const refused = await jmap.one('Mailbox/set', { accountId, destroy: [parent], update: { [child]: { name: 'Quire2' } } });
    assert.equal(refused.notDestroyed[parent].type, 'mailboxHasChild');
    assert.deepEqual(refused.updated, { [child]: null });
    const hasMail = await jmap.one('Mailbox/set', { accountId, destroy: [inbox.id] });
    assert.ok(['mailboxHasEmail', 'forbidden'].includes(hasMail.notDestroyed[inbox.id].type));
    const gone = await jmap.one('Mailbox/set', { accountId, destroy: [child] });
    assert.deepEqual(gone.destroyed, [child]);
    assert.deepEqual((await jmap.one('Mailbox/changes', { accountId, sinceState: mboxChanges.newState })).destroyed, [child]);

    // ---- push: a state event after a change ----
    const event = await new Promise<string>((resolve, reject) => {
      const request = httpsRequest({ host: '127.0.0.1', port, path: '/jmap/eventsource?types=*&closeafter=state&ping=0', ca: quire.cert, headers: { authorization: jmap.authorization, accept: 'text/event-stream' } }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes(': connected')) {
            text = text.replace(': connected\n\n', '');
            void jmap.one('Email/set', { accountId, update: { [idB]: { 'keywords/$answered': true } } });
          }
        });
        response.on('end', () => resolve(text));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end();
    });
    const [, data] = /event: state\ndata: (.*)\n/.exec(event) ?? [];
    assert.ok(data, event);
    const change = JSON.parse(data);
    assert.equal(change['@type'], 'StateChange');
    const now = (await jmap.one('Email/get', { accountId, ids: [] })).state;
    assert.equal(change.changed[accountId].Email, now);

    // A push stream left open: stopping the server must end it rather than wait for the client.
    await new Promise<void>((resolve, reject) => {
      const request = httpsRequest({ host: '127.0.0.1', port, path: '/jmap/eventsource?types=Email&closeafter=no&ping=10', ca: quire.cert, headers: { authorization: jmap.authorization } }, (response) => {
        response.once('data', () => resolve());
        response.on('error', () => {});
      });
      request.on('error', reject);
      request.end();
    });

    const metrics = await (await fetch(`http://127.0.0.1:${quire.port('http')}/metrics`)).text();
    assert.match(metrics, /quire_protocol_commands_total\{protocol="jmap",command="EMAIL\/GET",outcome="ok"\} \d+/);
    assert.match(metrics, /quire_auth_failures_total\{protocol="jmap"\} [1-9]/);
    assert.match(metrics, /quire_protocol_sessions\{protocol="jmap"\} 1/, 'the open push stream is a session');
  } finally {
    await quire.stop();
  }
  const log = lines.join('');
  assert.ok(!log.includes(quire.demo.password), 'no password in the log');
  assert.ok(!log.includes(jmap.authorization.slice(6)), 'no credential in the log');
  assert.ok(!log.includes('Body-marker-7731'), 'no message body in the log');
  const requests = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.req !== undefined || entry.res !== undefined);
  for (const entry of requests) assert.equal(typeof entry.reqId, 'string');
});
