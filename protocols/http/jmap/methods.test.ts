// Proves Email/copy, Email/parse, SearchSnippet/get and Thread/changes on a real server over
// real TLS with raw HTTP: a copy within the account (fromAccountId errors, onSuccessDestroyOriginal
// as an implicit Email/set), parsing an uploaded message with an attached message (its parts
// downloadable, nothing stored), snippets whose terms are marked and whose text is HTML-escaped
// (body matches found by the engine's content search), and thread changes from Email changes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../../../test/harness.js';
import { jmapClient } from './testing.js';

const using = ['urn:ietf:params:jmap:core', 'urn:ietf:params:jmap:mail'];

const crlf = (text: string) => text.replace(/\r?\n/g, '\r\n');

test('Email/copy, Email/parse, SearchSnippet/get, Thread/changes', { timeout: 120_000 }, async () => {
  const quire = await startTestServer();
  const jmap = jmapClient(quire, quire.demo.address, quire.demo.password, using);
  try {
    const accountId = (await jmap.get('/.well-known/jmap')).json().primaryAccounts['urn:ietf:params:jmap:mail'] as string;
    const mailboxes = await jmap.one('Mailbox/get', { accountId, ids: null });
    const inbox = mailboxes.list.find((m: any) => m.role === 'inbox');
    const made = await jmap.one('Mailbox/set', { accountId, create: { a: { name: 'Projects', parentId: null } } });
    const archiveId = made.created.a.id as string;

    const report = crlf(`From: Carol <carol@example.net>\nTo: demo@example.org\nSubject: Quarterly <report> & budget\nMessage-ID: <q1@example.net>\nDate: Tue, 1 Jul 2025 10:00:00 +0000\n\nThe budget for next year is ${'padding words '.repeat(10)}attached; the BUDGET grows.\n`);
    const other = crlf('From: dan@example.net\nTo: demo@example.org\nSubject: Lunch\nMessage-ID: <l1@example.net>\n\nSee you at noon.\n');
    const blobs = [await jmap.upload(accountId, report, 'message/rfc822'), await jmap.upload(accountId, other, 'message/rfc822')];
    const imported = await jmap.one('Email/import', { accountId, emails: Object.fromEntries(blobs.map((b, i) => [`m${i}`, { blobId: b.blobId, mailboxIds: { [inbox.id]: true }, keywords: { $seen: true } }])) });
    const reportId = imported.created.m0.id as string;
    const lunchId = imported.created.m1.id as string;

    // ---- Thread/changes ----
    const threadState = imported.newState as string;
    const [reportThread] = (await jmap.one('Email/get', { accountId, ids: [reportId], properties: ['threadId'] })).list.map((e: any) => e.threadId);
    await jmap.one('Email/set', { accountId, update: { [reportId]: { 'keywords/$flagged': true } } });
    const threadChanges = await jmap.one('Thread/changes', { accountId, sinceState: threadState });
    assert.deepEqual([threadChanges.created, threadChanges.updated, threadChanges.destroyed], [[], [reportThread], []]);
    const fresh = await jmap.one('Email/import', { accountId, emails: { n: { blobId: blobs[1]!.blobId, mailboxIds: { [archiveId]: true } } } });
    const afterImport = await jmap.one('Thread/changes', { accountId, sinceState: threadChanges.newState });
    assert.equal(afterImport.created.length + afterImport.updated.length, 1, 'the new email is in one thread');
    await jmap.one('Email/set', { accountId, destroy: [fresh.created.n.id] });
    assert.equal((await jmap.calls([['Thread/changes', { accountId, sinceState: afterImport.newState }, 't']]))[0]![1].type, 'cannotCalculateChanges', 'a destroyed email: the client refetches');

    // ---- Email/copy (RFC 8620 5.4) ----
    const state = (await jmap.one('Email/get', { accountId, ids: [] })).state as string;
    const refused = await jmap.calls([
      ['Email/copy', { fromAccountId: 'nobody', accountId, create: { c: { id: reportId, mailboxIds: { [archiveId]: true } } } }, 'a'],
      ['Email/copy', { fromAccountId: accountId, accountId: 'nobody', create: {} }, 'b'],
      ['Email/copy', { fromAccountId: accountId, accountId, ifFromInState: 'stale', create: {} }, 'c'],
    ]);
    assert.deepEqual(refused.map(([, args]) => args.type), ['fromAccountNotFound', 'accountNotFound', 'stateMismatch']);
    const copied = await jmap.calls([
      ['Email/copy', {
        fromAccountId: accountId, accountId, ifInState: state, onSuccessDestroyOriginal: true, destroyFromIfInState: state,
        create: { c1: { id: reportId, mailboxIds: { [archiveId]: true }, keywords: { $answered: true } }, c2: { id: 'M999.9', mailboxIds: { [archiveId]: true } }, c3: { id: lunchId, mailboxIds: { nope: true } } },
      }, 'k'],
    ]);
    assert.deepEqual(copied.map(([name]) => name), ['Email/copy', 'Email/set'], 'onSuccessDestroyOriginal answers an implicit Email/set');
    const [copy, destroyed] = [copied[0]![1], copied[1]![1]];
    assert.equal(copy.fromAccountId, accountId);
    assert.equal(copy.oldState, state);
    assert.deepEqual(Object.keys(copy.notCreated).sort(), ['c2', 'c3']);
    assert.equal(copy.notCreated.c2.type, 'notFound');
    assert.equal(copy.notCreated.c3.type, 'invalidProperties');
    const copyId = copy.created.c1.id as string;
    assert.deepEqual(destroyed.destroyed, [reportId], 'only the copied original is destroyed');
    const copyGot = (await jmap.one('Email/get', { accountId, ids: [copyId, reportId], properties: ['mailboxIds', 'keywords', 'subject', 'receivedAt'] }));
    assert.deepEqual(copyGot.notFound, [reportId]);
    assert.deepEqual(copyGot.list[0].mailboxIds, { [archiveId]: true });
    assert.deepEqual(copyGot.list[0].keywords, { $answered: true });
    assert.equal(copyGot.list[0].subject, 'Quarterly <report> & budget');
    const plainCopy = await jmap.one('Email/copy', { fromAccountId: accountId, accountId, create: { p: { id: lunchId, mailboxIds: { [archiveId]: true } } } });
    const plainGot = await jmap.one('Email/get', { accountId, ids: [plainCopy.created.p.id, lunchId], properties: ['keywords', 'receivedAt', 'blobId'] });
    assert.deepEqual(plainGot.list[0].keywords, plainGot.list[1].keywords, 'the source keywords when none are given');
    assert.equal(plainGot.list[0].receivedAt, plainGot.list[1].receivedAt, 'and its receivedAt');
    const copyBytes = await jmap.get(`/jmap/download/${accountId}/${plainGot.list[0].blobId}/m.eml`);
    assert.equal(copyBytes.text(), other, 'a copy has the same bytes');

    // ---- SearchSnippet/get (RFC 8621 5.1) ----
    const snippets = await jmap.one('SearchSnippet/get', { accountId, filter: { operator: 'AND', conditions: [{ text: 'budget' }, { subject: 'report' }, { operator: 'NOT', conditions: [{ body: 'noon' }] }] }, emailIds: [copyId, lunchId, 'M999.1'] });
    assert.deepEqual(snippets.notFound, ['M999.1']);
    const bySnippet = Object.fromEntries(snippets.list.map((s: any) => [s.emailId, s]));
    assert.equal(bySnippet[copyId].subject, 'Quarterly &lt;<mark>report</mark>&gt; &amp; <mark>budget</mark>', 'terms marked, the rest HTML-escaped');
    assert.match(bySnippet[copyId].preview, /^The <mark>budget<\/mark> for next year is padding/);
    assert.match(bySnippet[copyId].preview, /<mark>BUDGET<\/mark> grows\.$/);
    assert.deepEqual([bySnippet[lunchId].subject, bySnippet[lunchId].preview], [null, null], 'no term in it, nothing marked (NOT terms never are)');
    const htmlOnly = await jmap.upload(accountId, crlf('From: f@example.net\nSubject: html\nContent-Type: text/html; charset=utf-8\n\n<p>The <b>budget</b> is &lt;tight&gt;</p>\n'), 'message/rfc822');
    const htmlId = (await jmap.one('Email/import', { accountId, emails: { h: { blobId: htmlOnly.blobId, mailboxIds: { [inbox.id]: true } } } })).created.h.id as string;
    const htmlSnippet = await jmap.one('SearchSnippet/get', { accountId, filter: { body: 'budget' }, emailIds: [htmlId] });
    assert.match(htmlSnippet.list[0].preview, /^The\s+<mark>budget<\/mark>\s+is &lt;tight&gt;$/, 'an HTML part shown as its text, escaped again');
    const noFilter = await jmap.one('SearchSnippet/get', { accountId, emailIds: [copyId] });
    assert.deepEqual(noFilter.list, [{ emailId: copyId, subject: null, preview: null }]);
    const tooMany = await jmap.calls([['SearchSnippet/get', { accountId, filter: { text: 'x' }, emailIds: Array.from({ length: 501 }, (_, i) => `M1.${i}`) }, 's']]);
    assert.equal(tooMany[0]![1].type, 'requestTooLarge');

    // ---- Email/parse (RFC 8621 4.9) ----
    const outer = crlf(`From: Erin <erin@example.net>\nTo: demo@example.org\nSubject: Fwd: the report\nMessage-ID: <fwd@example.net>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\nForwarded below.\n--b1\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename="report.eml"\n\n${report}\n--b1--\n`);
    const outerBlob = await jmap.upload(accountId, outer, 'message/rfc822');
    const before = (await jmap.one('Email/get', { accountId, ids: [] })).state;
    const parsed = await jmap.one('Email/parse', { accountId, blobIds: [outerBlob.blobId, 'Unope'], fetchTextBodyValues: true });
    assert.deepEqual(parsed.notFound, ['Unope']);
    const email = parsed.parsed[outerBlob.blobId];
    assert.equal(email.subject, 'Fwd: the report');
    assert.deepEqual(email.from, [{ name: 'Erin', email: 'erin@example.net' }]);
    assert.deepEqual(email.messageId, ['fwd@example.net']);
    assert.equal(email.id, null, 'a parsed blob is no stored Email');
    assert.equal(email.attachments.length, 1);
    assert.equal(email.attachments[0].type, 'message/rfc822');
    assert.equal(email.bodyValues[email.textBody[0].partId].value, 'Forwarded below.');
    const withIds = await jmap.one('Email/parse', { accountId, blobIds: [outerBlob.blobId], properties: ['id', 'mailboxIds', 'keywords', 'receivedAt', 'threadId', 'size', 'blobId'] });
    assert.deepEqual(withIds.parsed[outerBlob.blobId], { id: null, mailboxIds: null, keywords: null, receivedAt: null, threadId: null, size: Buffer.byteLength(outer), blobId: outerBlob.blobId });
    // The attached message is a blob too, and parses in turn.
    const attachedBlob = email.attachments[0].blobId as string;
    const attached = await jmap.get(`/jmap/download/${accountId}/${attachedBlob}/report.eml`);
    assert.equal(attached.status, 200);
    assert.match(attached.text(), /^From: Carol <carol@example\.net>\r\n/);
    const inner = await jmap.one('Email/parse', { accountId, blobIds: [attachedBlob], properties: ['subject', 'preview'] });
    assert.equal(inner.parsed[attachedBlob].subject, 'Quarterly <report> & budget');
    // A stored message parses as well; parsing stores nothing.
    const stored = await jmap.one('Email/parse', { accountId, blobIds: [plainGot.list[0].blobId], properties: ['subject'] });
    assert.equal(stored.parsed[plainGot.list[0].blobId].subject, 'Lunch');
    assert.equal((await jmap.one('Email/get', { accountId, ids: [] })).state, before, 'Email/parse changed nothing');
    const junk = await jmap.upload(accountId, new Uint8Array([0, 1, 2, 255, 254]), 'application/octet-stream');
    assert.deepEqual((await jmap.one('Email/parse', { accountId, blobIds: [junk.blobId] })).notParsable, [junk.blobId]);
  } finally {
    await quire.stop();
  }
});
