// Proves public folders as JMAP shared accounts on a real server over real TLS: the session
// lists a non-personal, read-only account per public-folder mailbox the user can see into;
// Mailbox/get shows only the folders the user may see, with myRights from the folder's ACL;
// Email/query and Email/get read a readable folder's mail and nothing of an unreadable one; a
// change is refused with accountReadOnly; a user with no rights anywhere gets no such account.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../../../test/harness.js';
import { jmapClient } from './testing.js';

const using = ['urn:ietf:params:jmap:core', 'urn:ietf:params:jmap:mail'];

test('JMAP: public folders as a shared account, per the ACL', { timeout: 90_000 }, async () => {
  const quire = await startTestServer();
  try {
    await quire.addUser('outsider@example.org', 'outsider-pw');
    const pf = quire.server.publicFolders;
    for (const result of [
      await pf.add('Board'),
      await pf.setPermission('Board', 'anyone', null),
      await pf.setPermission('Board', quire.demo.address, 'reviewer'),
      await pf.add('Board/Minutes'),
      await pf.setPermission('Board/Minutes', quire.demo.address, 'none'),
      await pf.add('Secret'),
      await pf.setPermission('Secret', 'anyone', null),
    ]) {
      assert.ok(result.ok, result.ok ? '' : result.message);
    }
    const board = await pf.find('Board');
    assert.ok(board.ok);
    const appended = await quire.server.supervisor.api(board.value.database).commit({
      mailboxId: board.value.mailboxId,
      ops: [{ op: 'append', folder: 'Board', content: Buffer.from('From: chair@example.org\r\nSubject: Agenda\r\n\r\nItems.\r\n') }, { op: 'append', folder: 'Board/Minutes', content: Buffer.from('Subject: Minutes\r\n\r\nhidden\r\n') }],
    });
    assert.ok(appended.ok);

    const jmap = jmapClient(quire, quire.demo.address, quire.demo.password, using);
    const session = (await jmap.get('/.well-known/jmap')).json();
    const sharedId = board.value.mailboxId;
    assert.deepEqual(
      { name: session.accounts[sharedId].name, isPersonal: session.accounts[sharedId].isPersonal, isReadOnly: session.accounts[sharedId].isReadOnly },
      { name: 'Public Folders', isPersonal: false, isReadOnly: true },
    );
    assert.equal(session.accounts[sharedId].accountCapabilities['urn:ietf:params:jmap:mail'].mayCreateTopLevelMailbox, false);
    assert.notEqual(session.primaryAccounts['urn:ietf:params:jmap:mail'], sharedId);

    const mailboxes = (await jmap.one('Mailbox/get', { accountId: sharedId, ids: null })).list as Array<Record<string, any>>;
    assert.deepEqual(mailboxes.map((m) => m.name).sort(), ['Board', 'Minutes'], 'Secret is not seen');
    const boardBox = mailboxes.find((m) => m.name === 'Board')!;
    const minutesBox = mailboxes.find((m) => m.name === 'Minutes')!;
    assert.equal(minutesBox.parentId, boardBox.id);
    assert.deepEqual(boardBox.myRights, { mayReadItems: true, mayAddItems: false, mayRemoveItems: false, maySetSeen: false, maySetKeywords: false, mayCreateChild: false, mayRename: false, mayDelete: false, maySubmit: false });
    assert.equal(minutesBox.myRights.mayReadItems, false);

    const [query, get] = await jmap.calls([
      ['Email/query', { accountId: sharedId }, 'q'],
      ['Email/get', { accountId: sharedId, '#ids': { resultOf: 'q', name: 'Email/query', path: '/ids' }, properties: ['subject', 'mailboxIds'] }, 'g'],
    ]);
    assert.equal(query![1].ids.length, 1, 'only the readable folder\'s mail');
    assert.equal(get![1].list[0].subject, 'Agenda');
    assert.deepEqual(Object.keys(get![1].list[0].mailboxIds), [boardBox.id]);

    const [refused] = await jmap.calls([['Email/set', { accountId: sharedId, destroy: [query![1].ids[0]] }, 's']]);
    assert.deepEqual([refused![0], refused![1].type], ['error', 'accountReadOnly']);
    // A shared account has no identities, submissions or vacation response.
    const sending = jmapClient(quire, quire.demo.address, quire.demo.password, [...using, 'urn:ietf:params:jmap:submission', 'urn:ietf:params:jmap:vacationresponse']);
    const notSupported = await sending.calls([['Identity/get', { accountId: sharedId }, 'i'], ['VacationResponse/get', { accountId: sharedId }, 'v']]);
    assert.deepEqual(notSupported.map(([, args]) => args.type), ['accountNotSupportedByMethod', 'accountNotSupportedByMethod']);

    const outsider = jmapClient(quire, 'outsider@example.org', 'outsider-pw', using);
    const theirs = (await outsider.get('/.well-known/jmap')).json();
    assert.equal(theirs.accounts[sharedId], undefined);
    const [notFound] = await outsider.calls([['Mailbox/get', { accountId: sharedId, ids: null }, 'm']]);
    assert.deepEqual([notFound![0], notFound![1].type], ['error', 'accountNotFound']);
  } finally {
    await quire.stop();
  }
});
