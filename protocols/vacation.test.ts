// Proves the vacation auto-reply's rules without a server: the active window (fromDate
// inclusive, toDate exclusive), each RFC 3834 reason not to answer, the reply's headers, and
// the responder over the real engine (two copies of a database under a supervisor): once per
// sender per vacationPeriodMs, again after the settings change, nothing written for a user
// without a vacation response, and no second answer after a failover to the passive copy
// (whom it answered is in the replicated log).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok } from '../engine/errors.js';
import { until, withTwoCopies } from '../engine/replication/testing.js';
import { silentLog } from '../server/frontend.js';
import type { Account, Submission } from './frontend.js';
import { autoReplyMessage, autoReplyRefusal, vacationActive, vacationId, vacationKind, vacationOff, vacationPeriodMs, vacationRepliedKind, vacationResponder } from './vacation.js';

const account: Account = { address: 'demo@example.org', mailboxId: 'm1', database: 'DB01', displayName: 'Demo', quotaBytes: null, aliases: ['sales@example.org'] };
const head = (extra: string, to = 'demo@example.org') => Buffer.from(`From: a@remote.test\r\nTo: ${to}\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <m1@remote.test>\r\n${extra}\r\nbody\r\n`);

test('vacationActive honours isEnabled, fromDate and toDate', () => {
  const on = { ...vacationOff, isEnabled: true, fromDate: '2026-01-01T00:00:00Z', toDate: '2026-01-08T00:00:00Z' };
  assert.equal(vacationActive(vacationOff, Date.parse('2026-01-02T00:00:00Z')), false);
  assert.equal(vacationActive(on, Date.parse('2025-12-31T23:59:59Z')), false);
  assert.equal(vacationActive(on, Date.parse('2026-01-01T00:00:00Z')), true);
  assert.equal(vacationActive(on, Date.parse('2026-01-07T23:59:59Z')), true);
  assert.equal(vacationActive(on, Date.parse('2026-01-08T00:00:00Z')), false);
  assert.equal(vacationActive({ ...on, fromDate: null, toDate: null }, 0), true);
});

test('autoReplyRefusal: RFC 3834 sec. 2 reasons not to answer', () => {
  assert.equal(autoReplyRefusal(head(''), 'a@remote.test', account, 'demo@example.org'), null);
  assert.equal(autoReplyRefusal(head('', 'Sales <sales@example.org>'), 'a@remote.test', account, 'sales@example.org'), null, 'an alias in To');
  assert.equal(autoReplyRefusal(head('Auto-Submitted: no\r\n'), 'a@remote.test', account, 'demo@example.org'), null);
  // [extra header lines, envelope sender, To]: each must be refused.
  const refused: Array<[string, string, string?]> = [
    ['', ''],
    ['', 'sales@example.org'],
    ['', 'MAILER-DAEMON@remote.test'],
    ['', 'owner-list@remote.test'],
    ['', 'list-request@remote.test'],
    ['', 'do-not-reply@remote.test'],
    ['Auto-Submitted: auto-replied\r\n', 'a@remote.test'],
    ['Auto-Submitted: auto-generated; x=1\r\n', 'a@remote.test'],
    ['Precedence: bulk\r\n', 'a@remote.test'],
    ['Precedence: list\r\n', 'a@remote.test'],
    ['List-Id: <x.remote.test>\r\n', 'a@remote.test'],
    ['List-Unsubscribe: <mailto:u@remote.test>\r\n', 'a@remote.test'],
    ['', 'a@remote.test', 'someone@else.test'],
  ];
  const refusals = refused.map(([extra, sender, to]) => autoReplyRefusal(head(extra, to), sender, account, 'demo@example.org'));
  assert.ok(refusals.every((r) => r !== null), JSON.stringify(refusals));
});

test('autoReplyMessage: Auto-Submitted, In-Reply-To, References, "Auto:" subject', () => {
  const original = head('References: <r0@remote.test>\r\n');
  const reply = Buffer.from(autoReplyMessage({ ...vacationOff, isEnabled: true, textBody: 'Away' }, original, 'demo@example.org', 'a@remote.test', Date.parse('2026-11-29T10:00:00Z'), 'x1@localhost')).toString('latin1');
  assert.match(reply, /^From: <demo@example\.org>\r\nTo: <a@remote\.test>\r\nSubject: =\?UTF-8\?B\?[^?]+\?=\r\nDate: Sun, 29 Nov 2026 10:00:00 \+0000\r\nMessage-ID: <x1@localhost>\r\nIn-Reply-To: <m1@remote\.test>\r\nReferences: <r0@remote\.test> <m1@remote\.test>\r\nAuto-Submitted: auto-replied\r\n/);
  const subject = /Subject: =\?UTF-8\?B\?([^?]+)\?=/.exec(reply)![1]!;
  assert.equal(Buffer.from(subject, 'base64').toString('utf8'), 'Auto: Grüße');
  assert.ok(reply.endsWith('\r\n\r\nAway\r\n'));
  const html = Buffer.from(autoReplyMessage({ ...vacationOff, isEnabled: true, subject: 'Out', htmlBody: '<p>Back <b>soon</b></p>' }, original, 'demo@example.org', 'a@remote.test', 0, 'x2@localhost')).toString('latin1');
  assert.match(html, /\r\nSubject: Out\r\n/);
  assert.match(html, /Back\s+soon/);
});

test('vacationResponder over the engine: once per sender per period, again after it and after a settings change; nothing written for a user without one; no second answer after a failover', { timeout: 120_000 }, async () => {
  const options = { durability: 'sync' as const, mountDial: 'lossless' as const, restartsBeforeFailover: 0 };
  await withTwoCopies('quire-vacation-', options, async ({ supervisor, api, lines }) => {
    const sent: Submission[] = [];
    let now = Date.parse('2026-11-29T10:00:00Z');
    const respond = vacationResponder({ log: silentLog, hostname: 'mx.example.org', mailboxes: () => api }, async (submission) => {
      sent.push(submission);
      return ok({ id: 'r', timeMs: now, recipients: [] });
    }, () => now);
    const deliver = (sender: string) => respond({ account, rcpt: account.address, message: { id: `m${now}`, timeMs: now, mailFrom: sender, prefix: '', body: head('') } });
    const setVacation = async (textBody: string) => assert.ok((await api.commit({ mailboxId: 'm1', ops: [{ op: 'setDocument', kind: vacationKind, id: vacationId, value: { ...vacationOff, isEnabled: true, textBody } }] })).ok);
    const states = async () => (await api.mailbox('m1')).ok && (await api.mailbox('m1'));

    const before = await states();
    await deliver('a@remote.test');
    assert.equal(sent.length, 0);
    assert.deepEqual(await states(), before, 'nothing written for a user without a vacation response');

    await setVacation('Away');
    await deliver('a@remote.test');
    assert.deepEqual(sent.map((s) => [s.mailFrom, s.recipients, s.autoReply]), [['', ['a@remote.test'], true]]);
    now += 3600_000;
    await Promise.all([deliver('A@remote.test'), deliver('b@remote.test'), deliver('b@remote.test')]);
    assert.deepEqual(sent.map((s) => s.recipients[0]), ['a@remote.test', 'b@remote.test'], 'a answered once, b once (concurrent deliveries too)');
    now += vacationPeriodMs - 3600_000 - 1;
    await deliver('a@remote.test');
    assert.equal(sent.length, 2, "still within a's period");
    now += 1;
    await deliver('a@remote.test');
    assert.deepEqual(sent.map((s) => s.recipients[0]), ['a@remote.test', 'b@remote.test', 'a@remote.test'], 'a answered again once the period is over');
    await setVacation('Away, longer');
    await deliver('b@remote.test');
    assert.equal(sent.length, 4, 'changed settings: b is answered again at once');
    assert.match(Buffer.from(sent[3]!.content).toString('utf8'), /Away, longer/);
    const replied = await api.documents('m1', vacationRepliedKind);
    assert.ok(replied.ok);
    assert.deepEqual(replied.value.documents.map((d) => d.id).sort(), ['a@remote.test', 'b@remote.test']);

    // The active copy dies; the passive one takes over and knows whom it answered.
    const active = (await supervisor.list()).find((c) => c.role === 'active')!;
    process.kill(active.pid!, 'SIGKILL');
    await until(async () => (await supervisor.list()).some((c) => c.role === 'active' && c.state === 'Mounted' && c.copy !== active.copy), 30_000, `failover\n${lines.join('\n')}`);
    await deliver('b@remote.test');
    assert.equal(sent.length, 4, 'no second answer to b after the failover');
    await deliver('c@remote.test');
    assert.deepEqual(sent.map((s) => s.recipients[0]).slice(4), ['c@remote.test'], 'and new senders are answered by the new active copy');
  });
});
