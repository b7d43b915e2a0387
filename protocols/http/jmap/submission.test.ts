// Proves JMAP sending on a real server over real TLS with raw HTTP, through the server's one
// submission path: the session advertises urn:ietf:params:jmap:submission and
// vacationresponse; Identity/get, set, changes (seeded from the directory, primary not
// deletable, foreign addresses refused, kept in the data directory); EmailSubmission/set
// delivering to a local user at once and to remote ones through the durable outbound queue and
// a real SMTP smarthost (DKIM-signed, Bcc removed, onSuccessUpdateEmail moving the draft to
// Sent), deliveryStatus following the queue, undo of a message still waiting in the queue,
// /changes and /query; and VacationResponse/set with the auto-reply actually sent (RFC 3834:
// once per sender, not to bulk mail, null reverse-path, Auto-Submitted, In-Reply-To) to a
// remote sender through the queue and to a local sender into their INBOX; push (EventSource)
// of Identity, VacationResponse and EmailSubmission changes made by another session or by the
// queue finishing a submission (also after a restart, before any JMAP request);
// EmailSubmission/queryChanges; and all of it (objects and state strings) kept across a failover
// to the database's passive copy.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { type TestServer, startTestServer } from '../../../test/harness.js';
import { startServer } from '../../../server/server.js';
import { recipientsPerTransactionMax } from '../../smtp/constants.js';
import { inboxOf } from '../../smtp/testing.js';
import { documentState } from './collection.js';
import { jmapClient } from './testing.js';
import { until } from '../../../test/until.js';

const using = ['urn:ietf:params:jmap:core', 'urn:ietf:params:jmap:mail', 'urn:ietf:params:jmap:submission', 'urn:ietf:params:jmap:vacationresponse'];

interface Relayed {
  readonly from: string;
  readonly to: string[];
  readonly raw: string;
}

/** A smarthost that takes everything but defers wait@remote.test every time. */
async function smarthost(): Promise<{ port: number; relayed: Relayed[]; deferred: () => number; release: () => void; close(): Promise<void> }> {
  const relayed: Relayed[] = [];
  let deferred = 0;
  /** Mail for slow@remote.test is answered only once the test releases it. */
  let release = (): void => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address !== 'wait@remote.test') return callback();
      deferred++;
      callback(Object.assign(new Error('4.2.0 not now'), { responseCode: 451 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        if (session.envelope.rcptTo.some((r) => r.address === 'slow@remote.test')) await gate;
        relayed.push({ from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('latin1') });
        callback();
      });
    },
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.server.address() as AddressInfo).port)));
  return { port, relayed, deferred: () => deferred, release, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let quire: TestServer;
let relay: Awaited<ReturnType<typeof smarthost>>;

before(async () => {
  relay = await smarthost();
  quire = await startTestServer({ transport: { smarthost: `127.0.0.1:${relay.port}`, retryMsBase: 600_000, checkInbound: false } });
  await quire.addUser('bob@example.org', 'bob-password-123', { database: 'DB02' });
  const alias = await quire.server.directory.addAlias('sales@example.org', quire.demo.address);
  assert.ok(alias.ok);
});

after(async () => {
  await quire.stop();
  await relay.close();
});

const crlf = (text: string) => text.replace(/\r?\n/g, '\r\n');

test('Identity, EmailSubmission through the mail flow, undo', { timeout: 120_000 }, async () => {
  const jmap = jmapClient(quire, quire.demo.address, quire.demo.password, using);
  const session = (await jmap.get('/.well-known/jmap')).json();
  assert.deepEqual(Object.keys(session.capabilities).sort(), using);
  const accountId = session.primaryAccounts['urn:ietf:params:jmap:submission'] as string;
  assert.deepEqual(session.accounts[accountId].accountCapabilities['urn:ietf:params:jmap:submission'], { maxDelayedSend: 0, submissionExtensions: {} });
  const mailOnly = jmapClient(quire, quire.demo.address, quire.demo.password, using.slice(0, 2));
  assert.equal((await mailOnly.calls([['Identity/get', { accountId }, 'i']]))[0]![1].type, 'unknownMethod', 'Identity needs the submission capability in using');

  // ---- Identity (RFC 8621 6) ----
  const identities = await jmap.one('Identity/get', { accountId, ids: null });
  const byEmail = Object.fromEntries(identities.list.map((i: any) => [i.email, i]));
  assert.deepEqual(Object.keys(byEmail).sort(), ['demo@example.org', 'sales@example.org'], 'one per address of the directory');
  assert.equal(byEmail['demo@example.org'].mayDelete, false, 'the primary stays');
  assert.equal(byEmail['sales@example.org'].mayDelete, true);
  const identityState = identities.state as string;
  const set = await jmap.one('Identity/set', {
    accountId,
    create: { work: { name: 'Demo at work', email: 'Sales@example.org', textSignature: '-- \nDemo' }, evil: { name: 'Boss', email: 'boss@example.org' } },
    update: { [byEmail['demo@example.org'].id]: { name: 'Demo Person', replyTo: [{ name: null, email: 'demo@example.org' }] } },
    destroy: [byEmail['demo@example.org'].id, byEmail['sales@example.org'].id],
  });
  assert.equal(set.notCreated.evil.type, 'forbiddenFrom');
  assert.equal(set.notDestroyed[byEmail['demo@example.org'].id].type, 'forbidden');
  assert.deepEqual(set.destroyed, [byEmail['sales@example.org'].id]);
  const workId = set.created.work.id as string;
  const identityChanges = await jmap.one('Identity/changes', { accountId, sinceState: identityState });
  assert.deepEqual([identityChanges.created, identityChanges.updated, identityChanges.destroyed], [[workId], [byEmail['demo@example.org'].id], [byEmail['sales@example.org'].id]]);
  const again = await jmap.one('Identity/get', { accountId, ids: null });
  assert.deepEqual(again.list.map((i: any) => i.email).sort(), ['demo@example.org', 'sales@example.org'], 'a deleted seeded identity is not seeded again');
  assert.equal(again.list.find((i: any) => i.id === byEmail['demo@example.org'].id).name, 'Demo Person');
  const stored = await quire.server.supervisor.api('DB01').documents(accountId, 'identity');
  assert.ok(stored.ok && stored.value.documents.some((d) => d.id === workId) && documentState(stored.value.modseqHighest) === identityChanges.newState, 'kept in the mailbox database (account documents), its state the kind\'s modseq');
  assert.equal(existsSync(join(quire.dataDir, 'accounts')), false, 'nothing in the data directory');
  const primaryId = byEmail['demo@example.org'].id as string;

  // ---- a draft, sent with EmailSubmission/set (RFC 8621 7.5) ----
  const mailboxes = (await jmap.one('Mailbox/get', { accountId, ids: null })).list as any[];
  const drafts = mailboxes.find((m) => m.role === 'drafts');
  const sent = mailboxes.find((m) => m.role === 'sent');
  const draft = async (from: string, to: string[], subject: string, extra: Record<string, unknown> = {}) => {
    const answer = await jmap.one('Email/set', {
      accountId,
      create: { d: { mailboxIds: { [drafts.id]: true }, keywords: { $draft: true, $seen: true }, from: [{ name: 'Demo', email: from }], to: to.map((email) => ({ email })), subject, bodyValues: { b: { value: `Body of ${subject}` } }, textBody: [{ partId: 'b' }], ...extra } },
    });
    assert.ok(answer.created?.d, JSON.stringify(answer.notCreated));
    return answer.created.d.id as string;
  };
  const draftId = await draft('demo@example.org', ['bob@example.org', 'far@remote.test'], 'Hello Bob', { bcc: [{ email: 'hidden@remote.test' }] });
  const submissionState = (await jmap.one('EmailSubmission/get', { accountId, ids: [] })).state as string;
  const sentCall = await jmap.calls([
    ['EmailSubmission/set', {
      accountId,
      create: { s1: { identityId: primaryId, emailId: draftId } },
      onSuccessUpdateEmail: { '#s1': { [`mailboxIds/${drafts.id}`]: null, [`mailboxIds/${sent.id}`]: true, 'keywords/$draft': null } },
    }, 'send'],
  ]);
  assert.deepEqual(sentCall.map(([name]) => name), ['EmailSubmission/set', 'Email/set']);
  const created = sentCall[0]![1].created.s1;
  assert.deepEqual(created.envelope, { mailFrom: { email: 'demo@example.org', parameters: null }, rcptTo: ['bob@example.org', 'far@remote.test', 'hidden@remote.test'].map((email) => ({ email, parameters: null })) });
  assert.equal(created.deliveryStatus['bob@example.org'].delivered, 'yes', 'a local recipient has it when the call answers');
  assert.ok(['queued', 'yes'].includes(created.deliveryStatus['far@remote.test'].delivered));
  assert.deepEqual(sentCall[1]![1].updated, { [draftId]: null }, 'moved to Sent, the Email keeps its id');
  const sentEmailId = draftId;
  const sentEmail = await jmap.one('Email/get', { accountId, ids: [sentEmailId], properties: ['mailboxIds', 'keywords'] });
  assert.deepEqual(sentEmail.list[0].mailboxIds, { [sent.id]: true }, 'onSuccessUpdateEmail moved it to Sent');
  assert.deepEqual(sentEmail.list[0].keywords, { $seen: true });

  const bobCopy = Buffer.from((await inboxOf(quire, 'bob@example.org')).at(-1)!).toString('latin1');
  assert.match(bobCopy, /^Return-Path: <demo@example\.org>\r\nDelivered-To: bob@example\.org\r\nReceived: from jmap \(\[[^\]]+\]\)\r\n\tby localhost \(Quire\) with HTTPSA id /);
  assert.match(bobCopy, /Subject: Hello Bob/);
  assert.doesNotMatch(bobCopy, /^Bcc:|hidden@remote\.test/m, 'Bcc removed before sending');
  const far = await until(() => relay.relayed.find((r) => r.to.includes('far@remote.test')), 'the remote copy at the smarthost');
  assert.deepEqual([far.from, far.to.sort()], ['demo@example.org', ['far@remote.test', 'hidden@remote.test']]);
  assert.match(far.raw, /^DKIM-Signature: [^]*?d=example\.org;/, 'signed for the sender\'s domain like SMTP submission');
  assert.doesNotMatch(far.raw, /^Bcc:/m);
  const settled = await until(async () => {
    const got = await jmap.one('EmailSubmission/get', { accountId, ids: [created.id] });
    return got.list[0].deliveryStatus['far@remote.test'].delivered === 'yes' ? got : null;
  }, 'deliveryStatus to follow the queue');
  assert.equal(settled.list[0].undoStatus, 'final');
  assert.equal(settled.list[0].emailId, draftId);
  const changes = await jmap.one('EmailSubmission/changes', { accountId, sinceState: submissionState });
  assert.deepEqual(changes.created, [created.id]);

  // ---- refusals ----
  const foreignFrom = await draft('boss@example.org', ['bob@example.org'], 'Forged');
  const refused = await jmap.one('EmailSubmission/set', {
    accountId,
    create: {
      forged: { identityId: primaryId, emailId: foreignFrom },
      badFrom: { identityId: primaryId, emailId: sentEmailId, envelope: { mailFrom: { email: 'boss@example.org' }, rcptTo: [{ email: 'bob@example.org' }] } },
      none: { identityId: primaryId, emailId: sentEmailId, envelope: { mailFrom: { email: 'demo@example.org' }, rcptTo: [] } },
      bad: { identityId: primaryId, emailId: sentEmailId, envelope: { mailFrom: { email: 'demo@example.org' }, rcptTo: [{ email: 'not an address' }] } },
      noIdentity: { identityId: 'I999', emailId: sentEmailId },
    },
  });
  assert.deepEqual(Object.fromEntries(Object.entries(refused.notCreated).map(([k, v]: [string, any]) => [k, v.type])), { forged: 'forbiddenFrom', badFrom: 'forbiddenMailFrom', none: 'noRecipients', bad: 'invalidRecipients', noIdentity: 'invalidProperties' });
  assert.deepEqual(refused.notCreated.bad.invalidRecipients, ['not an address']);
  // The mail flow's own checks, answered as JMAP errors: the sender, and the number of recipients.
  const many = Array.from({ length: recipientsPerTransactionMax + 1 }, (_, i) => ({ email: `r${i}@remote.test` }));
  const flowRefused = await jmap.one('EmailSubmission/set', {
    accountId,
    create: {
      badFromManyTo: { identityId: primaryId, emailId: sentEmailId, envelope: { mailFrom: { email: 'boss@example.org' }, rcptTo: many } },
      manyTo: { identityId: primaryId, emailId: sentEmailId, envelope: { mailFrom: { email: 'demo@example.org' }, rcptTo: many } },
    },
  });
  assert.deepEqual([flowRefused.notCreated.badFromManyTo.type, flowRefused.notCreated.manyTo.type, flowRefused.notCreated.manyTo.maxRecipients], ['forbiddenMailFrom', 'tooManyRecipients', recipientsPerTransactionMax]);
  const unknownLocal = await jmap.one('EmailSubmission/set', { accountId, create: { u: { identityId: primaryId, emailId: sentEmailId, envelope: { mailFrom: { email: 'sales@example.org' }, rcptTo: [{ email: 'nobody@example.org' }] } } } });
  assert.equal(unknownLocal.created.u.deliveryStatus['nobody@example.org'].delivered, 'no');
  assert.match(unknownLocal.created.u.deliveryStatus['nobody@example.org'].smtpReply, /^550 5\.1\.1 /);

  // ---- undo: a message still waiting in the queue is taken out ----
  const waitDraft = await draft('demo@example.org', ['wait@remote.test'], 'Maybe later');
  const waiting = await jmap.one('EmailSubmission/set', { accountId, create: { w: { identityId: primaryId, emailId: waitDraft } } });
  const waitId = waiting.created.w.id as string;
  assert.equal(waiting.created.w.undoStatus, 'pending');
  await until(() => relay.deferred() > 0, 'the first attempt to be deferred');
  const cancelled = await until(async () => {
    const answer = await jmap.one('EmailSubmission/set', { accountId, update: { [waitId]: { undoStatus: 'canceled' } } });
    // cannotUnsend only while the attempt is still being recorded; then it can be cancelled.
    if (answer.notUpdated?.[waitId]?.type === 'cannotUnsend') return null;
    return answer;
  }, 'the cancel');
  assert.deepEqual(cancelled.updated, { [waitId]: null });
  assert.equal((await jmap.one('EmailSubmission/get', { accountId, ids: [waitId] })).list[0].undoStatus, 'canceled');
  assert.deepEqual(readdirSync(join(quire.dataDir, 'transport', 'queue')).filter((n) => !n.startsWith('.')), [], 'out of the queue');
  const tooLate = await jmap.one('EmailSubmission/set', { accountId, update: { [created.id]: { undoStatus: 'canceled' } } });
  assert.equal(tooLate.notUpdated[created.id].type, 'cannotUnsend');

  // ---- query and destroy ----
  const query = await jmap.one('EmailSubmission/query', { accountId, filter: { undoStatus: 'canceled' } });
  assert.deepEqual(query.ids, [waitId]);
  const all = await jmap.one('EmailSubmission/query', { accountId, sort: [{ property: 'sentAt', isAscending: false }], calculateTotal: true });
  assert.equal(all.total, 3);
  const gone = await jmap.one('EmailSubmission/set', { accountId, destroy: [waitId, 'S999'] });
  assert.deepEqual([gone.destroyed, gone.notDestroyed.S999.type], [[waitId], 'notFound']);

  // ---- one request, many objects: the submissions are read once (again only when the queue had news), committed together ----
  const router = quire.server.supervisor.api('DB01');
  const documents = router.documents;
  let reads = 0;
  router.documents = (id, kind, options) => {
    if (kind === 'submission') reads += 1;
    return documents.call(router, id, kind, options);
  };
  try {
    const localDraft = await draft('demo@example.org', ['bob@example.org'], 'Three times');
    const many = await jmap.one('EmailSubmission/set', {
      accountId,
      create: Object.fromEntries(['m1', 'm2', 'm3'].map((c) => [c, { identityId: primaryId, emailId: localDraft }])),
      update: { '#m1': {}, S998: { undoStatus: 'canceled' } },
      destroy: ['#m3', 'S999'],
    });
    assert.ok(reads >= 1 && reads <= 2, `the submissions were read ${reads} times`);
    assert.deepEqual(Object.keys(many.created), ['m1', 'm2', 'm3']);
    assert.deepEqual([many.updated, many.notUpdated.S998.type, many.destroyed, many.notDestroyed.S999.type], [{ [many.created.m1.id]: null }, 'notFound', [many.created.m3.id], 'notFound']);
    const after = await jmap.one('EmailSubmission/get', { accountId, ids: [many.created.m1.id, many.created.m2.id, many.created.m3.id] });
    assert.deepEqual([after.state, after.list.map((s: any) => s.id), after.notFound], [many.newState, [many.created.m1.id, many.created.m2.id], [many.created.m3.id]]);
  } finally {
    router.documents = documents;
  }
});

test('VacationResponse and the auto-reply sent by delivery (RFC 3834)', { timeout: 120_000 }, async () => {
  const jmap = jmapClient(quire, quire.demo.address, quire.demo.password, using);
  const accountId = (await jmap.get('/.well-known/jmap')).json().primaryAccounts['urn:ietf:params:jmap:vacationresponse'] as string;
  const initial = await jmap.one('VacationResponse/get', { accountId });
  assert.deepEqual(initial.list, [{ id: 'singleton', isEnabled: false, fromDate: null, toDate: null, subject: null, textBody: null, htmlBody: null }]);
  const refused = await jmap.one('VacationResponse/set', { accountId, create: { x: {} }, update: { singleton: { isEnabled: 'yes' } }, destroy: ['singleton'] });
  assert.deepEqual([refused.notCreated.x.type, refused.notUpdated.singleton.type, refused.notDestroyed.singleton.type], ['singleton', 'invalidProperties', 'singleton']);
  const on = await jmap.one('VacationResponse/set', { accountId, ifInState: initial.state, update: { singleton: { isEnabled: true, fromDate: '2020-01-01T00:00:00Z', toDate: null, textBody: 'Away until Monday. Ünïcode too.' } } });
  assert.deepEqual(on.updated, { singleton: null });
  assert.notEqual(on.newState, initial.state);

  const mx = nodemailer.createTransport({ host: '127.0.0.1', port: quire.port('smtp'), secure: false, ignoreTLS: true });
  const mail = (from: string, id: string, extra = '') =>
    mx.sendMail({ envelope: { from, to: ['demo@example.org'] }, raw: crlf(`From: ${from}\nTo: Demo <demo@example.org>\nSubject: Question ${id}\nMessage-ID: <${id}@remote.test>\nReferences: <older@remote.test>\n${extra}\nHello?\n`) });
  const repliesTo = (address: string) => relay.relayed.filter((r) => r.to.includes(address));

  await mail('alice@remote.test', 'a1');
  await mail('alice@remote.test', 'a2');
  await mail('carol@remote.test', 'c1', 'Precedence: bulk\n');
  await mail('list@remote.test', 'l1', 'List-Id: <things.remote.test>\n');
  await mail('noreply@remote.test', 'n1');
  const reply = await until(() => repliesTo('alice@remote.test')[0], 'the auto-reply to alice');
  assert.equal(reply.from, '', 'sent with the null reverse-path');
  assert.match(reply.raw, /\r\nAuto-Submitted: auto-replied\r\n/);
  assert.match(reply.raw, /\r\nIn-Reply-To: <a1@remote\.test>\r\n/);
  assert.match(reply.raw, /\r\nReferences: <older@remote\.test> <a1@remote\.test>\r\n/);
  assert.match(reply.raw, /\r\nSubject: Auto: Question a1\r\n/);
  assert.match(reply.raw, /\r\nFrom: <demo@example\.org>\r\nTo: <alice@remote\.test>\r\n/);
  assert.ok(reply.raw.includes(Buffer.from('Away until Monday. Ünïcode too.', 'utf8').toString('base64').slice(0, 20)));
  // A sender answered later shows the earlier deliveries were decided.
  await mail('dave@remote.test', 'd1');
  await until(() => repliesTo('dave@remote.test')[0], 'the auto-reply to dave');
  assert.equal(repliesTo('alice@remote.test').length, 1, 'once per sender per period');
  for (const none of ['carol@remote.test', 'list@remote.test', 'noreply@remote.test']) assert.equal(repliesTo(none).length, 0, `no reply to ${none}`);

  // A local sender gets the reply in their INBOX.
  await mail('bob@example.org', 'b1');
  const local = await until(async () => (await inboxOf(quire, 'bob@example.org')).map((m) => Buffer.from(m).toString('latin1')).find((m) => m.includes('Subject: Auto: Question b1')), 'the reply in bob\'s INBOX');
  assert.match(local, /^Return-Path: <>\r\n/);

  // New settings start a new period (fromDate/toDate are proved in protocols/vacation.test.ts).
  await jmap.one('VacationResponse/set', { accountId, update: { singleton: { subject: 'Gone fishing' } } });
  await mail('alice@remote.test', 'a3');
  const second = await until(() => repliesTo('alice@remote.test')[1], 'a new period answers alice again');
  assert.match(second.raw, /\r\nSubject: Gone fishing\r\n/);
  const got = await jmap.one('VacationResponse/get', { accountId, ids: ['singleton', 'other'] });
  assert.deepEqual(got.notFound, ['other']);
  assert.equal(got.list[0].subject, 'Gone fishing');
});

/** An EventSource stream's `state` events, as they come. */
function pushStream(port: number, authorization: string, types: string): { events: Array<Record<string, string>>; connected: Promise<void>; close(): void } {
  const events: Array<Record<string, string>> = [];
  let connected!: () => void;
  const ready = new Promise<void>((resolve) => (connected = resolve));
  const request = httpsRequest({ host: '127.0.0.1', port, path: `/jmap/eventsource?types=${types}&closeafter=no&ping=0`, ca: quire.cert, headers: { authorization, accept: 'text/event-stream' } }, (response) => {
    let text = '';
    response.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes(': connected\n\n')) connected();
      for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
        const data = /^event: state\ndata: (.*)$/m.exec(text.slice(0, end));
        if (data !== null) events.push(Object.values((JSON.parse(data[1]!) as { changed: Record<string, Record<string, string>> }).changed)[0]!);
        text = text.slice(end + 2);
      }
    });
    response.on('error', () => {});
  });
  request.on('error', () => {});
  request.end();
  return { events, connected: ready, close: () => request.destroy() };
}

test('push for Identity, VacationResponse and EmailSubmission (another session, the queue finishing); EmailSubmission/queryChanges', { timeout: 120_000 }, async () => {
  const jmap = jmapClient(quire, quire.demo.address, quire.demo.password, using);
  const other = jmapClient(quire, quire.demo.address, quire.demo.password, using);
  const accountId = (await jmap.get('/.well-known/jmap')).json().primaryAccounts['urn:ietf:params:jmap:submission'] as string;
  const primaryId = (await jmap.one('Identity/get', { accountId, ids: null })).list.find((i: any) => i.email === 'demo@example.org').id as string;
  const stream = pushStream(quire.port('https'), jmap.authorization, 'Identity,EmailSubmission,VacationResponse');
  await stream.connected;
  const next = (what: string, type: string, after: number) => until(() => stream.events.slice(after).find((e) => e[type] !== undefined), what);

  // Another session changes an identity: this stream hears of it, with the state Identity/get answers.
  let seen = stream.events.length;
  await other.one('Identity/set', { accountId, update: { [primaryId]: { textSignature: 'pushed' } } });
  const identityEvent = await next('the Identity push', 'Identity', seen);
  assert.equal(identityEvent.Identity, (await jmap.one('Identity/get', { accountId, ids: [] })).state);
  assert.equal(identityEvent.Email, undefined, 'only the types asked for, and only those that changed');

  seen = stream.events.length;
  const vacation = await other.one('VacationResponse/set', { accountId, update: { singleton: { isEnabled: false, textBody: 'later' } } });
  assert.equal((await next('the VacationResponse push', 'VacationResponse', seen)).VacationResponse, vacation.newState);

  // A submission waits in the queue (the smarthost holds it); the query and its state before.
  const drafts = ((await jmap.one('Mailbox/get', { accountId, ids: null })).list as any[]).find((m) => m.role === 'drafts');
  const draft = await jmap.one('Email/set', { accountId, create: { d: { mailboxIds: { [drafts.id]: true }, from: [{ email: 'demo@example.org' }], to: [{ email: 'slow@remote.test' }], subject: 'Slow', bodyValues: { b: { value: 'x' } }, textBody: [{ partId: 'b' }] } } });
  const pendingQuery = await jmap.one('EmailSubmission/query', { accountId, filter: { undoStatus: 'pending' } });
  const allQuery = await jmap.one('EmailSubmission/query', { accountId });
  assert.equal(pendingQuery.canCalculateChanges, true);
  seen = stream.events.length;
  const sent = await jmap.one('EmailSubmission/set', { accountId, create: { s: { identityId: primaryId, emailId: draft.created.d.id } } });
  const slowId = sent.created.s.id as string;
  assert.equal(sent.created.s.undoStatus, 'pending');
  assert.equal((await next('the EmailSubmission push of the create', 'EmailSubmission', seen)).EmailSubmission, sent.newState);
  const pendingNow = await jmap.one('EmailSubmission/queryChanges', { accountId, filter: { undoStatus: 'pending' }, sinceQueryState: pendingQuery.queryState, calculateTotal: true });
  assert.deepEqual([pendingNow.oldQueryState, pendingNow.newQueryState, pendingNow.removed, pendingNow.added, pendingNow.total], [pendingQuery.queryState, sent.newState, [], [{ id: slowId, index: 0 }], 1]);

  // The queue finishes it with no JMAP call: the push carries EmailSubmission's new state.
  seen = stream.events.length;
  relay.release();
  const finished = await next('the EmailSubmission push when the queue finished', 'EmailSubmission', seen);
  assert.notEqual(finished.EmailSubmission, sent.newState);
  const got = await jmap.one('EmailSubmission/get', { accountId, ids: [slowId] });
  assert.equal(got.state, finished.EmailSubmission, 'the state pushed is the state after the queue finished');
  assert.deepEqual([got.list[0].undoStatus, got.list[0].deliveryStatus['slow@remote.test'].delivered], ['final', 'yes']);

  // queryChanges: it left the pending query (removed, not added back); in the whole list it was added.
  const pendingAfter = await jmap.one('EmailSubmission/queryChanges', { accountId, filter: { undoStatus: 'pending' }, sinceQueryState: pendingNow.newQueryState });
  assert.deepEqual([pendingAfter.removed, pendingAfter.added], [[slowId], []]);
  const allAfter = await jmap.one('EmailSubmission/queryChanges', { accountId, sinceQueryState: allQuery.queryState, calculateTotal: true });
  assert.deepEqual(allAfter.added, [{ id: slowId, index: allAfter.total - 1 }]);
  assert.deepEqual(allAfter.removed, []);
  const destroyed = await jmap.one('EmailSubmission/set', { accountId, destroy: [slowId] });
  const afterDestroy = await jmap.one('EmailSubmission/queryChanges', { accountId, sinceQueryState: allAfter.newQueryState });
  assert.deepEqual([afterDestroy.removed, afterDestroy.added, afterDestroy.newQueryState], [[slowId], [], destroyed.newState]);
  // A state of another form (a plain version number, as before documents were log events) is not guessed at.
  const tooMany = await jmap.calls([['EmailSubmission/queryChanges', { accountId, sinceQueryState: documentState(0), maxChanges: 1 }, 'a'], ['EmailSubmission/queryChanges', { accountId, sinceQueryState: 'bogus' }, 'b'], ['EmailSubmission/changes', { accountId, sinceState: '1' }, 'c']]);
  assert.deepEqual(tooMany.map(([, answer]) => answer.type), ['tooManyChanges', 'cannotCalculateChanges', 'cannotCalculateChanges']);
  stream.close();
});


test('a failover to the passive copy keeps identities, submissions and the vacation response, states and all (JMAP over a real server)', { timeout: 120_000 }, async () => {
  const jmap = jmapClient(quire, quire.demo.address, quire.demo.password, using);
  const accountId = (await jmap.get('/.well-known/jmap')).json().primaryAccounts['urn:ietf:params:jmap:submission'] as string;
  const read = async () => {
    const [identities, submissions, vacation] = await jmap.calls([
      ['Identity/get', { accountId, ids: null }, 'i'],
      ['EmailSubmission/get', { accountId, ids: null }, 's'],
      ['VacationResponse/get', { accountId }, 'v'],
    ]);
    return [identities![1], submissions![1], vacation![1]];
  };
  await jmap.one('VacationResponse/set', { accountId, update: { singleton: { isEnabled: true, textBody: 'Failing over' } } });
  const before = await read();
  assert.ok(before[0].list.length >= 2 && before[1].list.length >= 1);
  const supervisor = quire.server.supervisor;
  const active = (await supervisor.list()).find((c) => c.database === 'DB01' && c.role === 'active')!;
  await supervisor.failover('DB01', 'test: the active copy is lost');
  await until(async () => (await supervisor.list()).some((c) => c.database === 'DB01' && c.role === 'active' && c.state === 'Mounted' && c.copy !== active.copy), 'the passive copy to take over');
  assert.deepEqual(await read(), before, 'the same objects and state strings from the promoted copy');
  const changes = await jmap.one('Identity/changes', { accountId, sinceState: before[0].state });
  assert.deepEqual([changes.created, changes.updated, changes.destroyed], [[], [], []]);
});

test('a submission the queue finishes after a restart, before any JMAP request, is brought up to date', { timeout: 120_000 }, async () => {
  // A smarthost that defers everything until the test lets it accept.
  let accepting = false;
  let deferred = 0;
  const host = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(_address, _session, callback) {
      if (accepting) return callback();
      deferred++;
      callback(Object.assign(new Error('4.2.0 not now'), { responseCode: 451 }));
    },
  });
  const hostPort = await new Promise<number>((resolve) => host.listen(0, '127.0.0.1', () => resolve((host.server.address() as AddressInfo).port)));
  const first = await startTestServer({ keepData: true, transport: { smarthost: `127.0.0.1:${hostPort}`, retryMsBase: 200, checkInbound: false } });
  let firstRunning = true;
  let second: Awaited<ReturnType<typeof startServer>> | null = null;
  try {
    const jmap = jmapClient(first, first.demo.address, first.demo.password, using);
    const accountId = (await jmap.get('/.well-known/jmap')).json().primaryAccounts['urn:ietf:params:jmap:submission'] as string;
    const primaryId = (await jmap.one('Identity/get', { accountId, ids: null })).list[0].id as string;
    const drafts = ((await jmap.one('Mailbox/get', { accountId, ids: null })).list as any[]).find((m) => m.role === 'drafts');
    const draft = await jmap.one('Email/set', { accountId, create: { d: { mailboxIds: { [drafts.id]: true }, from: [{ email: first.demo.address }], to: [{ email: 'later@remote.test' }], subject: 'Later', bodyValues: { b: { value: 'x' } }, textBody: [{ partId: 'b' }] } } });
    const sent = await jmap.one('EmailSubmission/set', { accountId, create: { s: { identityId: primaryId, emailId: draft.created.d.id } } });
    const id = sent.created.s.id as string;
    assert.equal(sent.created.s.deliveryStatus['later@remote.test'].delivered, 'queued');
    await until(() => deferred > 0, 'the first attempt to be deferred');
    firstRunning = false;
    await first.stop();

    // The same data directory again; the smarthost now takes it. No JMAP request is made.
    accepting = true;
    second = await startServer({ dataDir: first.dataDir, server: 'MBX1', domain: 'example.org', listen: '127.0.0.1', portOffset: 0, ports: 'ephemeral', logLevel: 'silent', say: () => undefined });
    const api = second.supervisor.api('DB01');
    const stored = await until(async () => {
      const listing = await api.documents(accountId, 'submission', { ids: [id] });
      const value = listing.ok ? (listing.value.documents[0]?.value as any) : undefined;
      return value?.deliveryStatus['later@remote.test'].delivered === 'yes' ? value : null;
    }, 'the submission document to follow the queue after the restart');
    assert.equal(stored.undoStatus, 'final');
  } finally {
    if (firstRunning) await first.stop();
    await second?.stop();
    rmSync(first.dataDir, { recursive: true, force: true });
    await new Promise<void>((resolve) => host.close(() => resolve()));
  }
});
