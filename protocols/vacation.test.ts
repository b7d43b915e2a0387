// Proves the vacation auto-reply's rules without a server: the active window (fromDate
// inclusive, toDate exclusive), each RFC 3834 reason not to answer, the reply's headers, and
// the responder over the real engine is proved in server/vacation.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Account } from './frontend.js';
import { autoReplyMessage, autoReplyRefusal, vacationActive, vacationOff } from './vacation.js';

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
