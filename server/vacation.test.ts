// Proves the vacation responder (protocols/vacation.ts) over the real engine, two copies of a
// database under a supervisor: once per sender per vacationPeriodMs, again after the settings
// change, nothing written for a user without a vacation response, concurrent deliveries from
// one sender answered once, and no second answer after a failover to the passive copy (whom it
// answered is in the replicated log).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok } from '../engine/errors.js';
import { until, withTwoCopies } from '../engine/replication/testing.js';
import type { Account, Submission } from '../protocols/frontend.js';
import { vacationId, vacationKind, vacationOff, vacationPeriodMs, vacationRepliedKind, vacationResponder } from '../protocols/vacation.js';
import { silentLog } from './frontend.js';

const account: Account = { address: 'demo@example.org', mailboxId: 'm1', database: 'DB01', displayName: 'Demo', quotaBytes: null, aliases: ['sales@example.org'] };
const head = (extra: string, to = 'demo@example.org') => Buffer.from(`From: a@remote.test\r\nTo: ${to}\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <m1@remote.test>\r\n${extra}\r\nbody\r\n`);

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

    // The delivery path reads the settings with its commit (`documentsAfter`, as deliverLocal asks
    // through the hook's `reads`) and hands them over: the responder then reads nothing itself.
    let reads = 0;
    const counting = new Proxy(api, {
      get: (target, key) => {
        if (key === 'documents') reads += 1;
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const counted = vacationResponder({ log: silentLog, hostname: 'mx.example.org', mailboxes: () => counting }, async (submission) => {
      sent.push(submission);
      return ok({ id: 'r', timeMs: now, recipients: [] });
    }, () => now);
    assert.ok((await api.commit({ mailboxId: 'm1', ops: [{ op: 'setDocument', kind: vacationKind, id: vacationId, value: vacationOff }] })).ok);
    const committed = await api.commit({ mailboxId: 'm1', ops: [{ op: 'append', folder: 'INBOX', content: head('') }], documentsAfter: counted.reads! });
    assert.ok(committed.ok && committed.value.documentsRead !== undefined);
    assert.deepEqual(committed.value.documentsRead.documents.map((d) => [d.id, (d.value as { isEnabled: boolean }).isEnabled]), [[vacationId, false]]);
    const message = { id: 'late', timeMs: now, mailFrom: 'd@remote.test', prefix: '', body: head('') };
    await counted({ account, rcpt: account.address, message, documents: committed.value.documentsRead });
    assert.equal(reads, 0, 'settings read with the commit: no read of its own');
    await counted({ account, rcpt: account.address, message });
    assert.equal(reads, 1, 'without them it reads');
    assert.equal(sent.length, 5, 'the response is off: nothing sent');
  });
});
