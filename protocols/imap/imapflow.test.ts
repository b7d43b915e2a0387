// Proves the IMAP front end works for imapflow (a real npm client) over real sockets against a
// real server: login (TLS and STARTTLS), folders, append, select, fetch (flags, envelope,
// structure, bodies), store, expunge, all over COMPRESS=DEFLATE; and a bad password.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { startTestServer, type TestServer } from '../../test/harness.js';

let server: TestServer;

before(async () => {
  server = await startTestServer();
});

after(async () => {
  await server.stop();
});

function client(secure = true): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port: server.port(secure ? 'imaps' : 'imap'),
    secure,
    doSTARTTLS: secure ? undefined : true,
    tls: { ca: [server.cert], servername: 'localhost' },
    auth: { user: server.demo.address, pass: server.demo.password },
    logger: false,
  } as ConstructorParameters<typeof ImapFlow>[0]);
}

const message = (subject: string, body = 'Hello there.\r\n'): string =>
  `From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${body}`;

test('imapflow: login over TLS and STARTTLS, append, select, fetch, store, expunge', async () => {
  const c = client();
  await c.connect();
  try {
    assert.ok(c.capabilities.has('IDLE'));
    // imapflow turns on COMPRESS=DEFLATE by itself when offered: everything below runs deflated.
    assert.ok((c as unknown as { _deflate?: unknown })._deflate !== undefined, 'COMPRESS=DEFLATE is active');
    const appended = await c.append('INBOX', message('first'), ['\\Flagged'], new Date('2024-01-02T03:04:05Z'));
    assert.ok(appended && typeof appended === 'object' && appended.uid !== undefined, 'APPENDUID');
    await c.append('INBOX', message('second'));
    const box = await c.mailboxOpen('INBOX');
    assert.equal(box.exists, 2);
    const flags: Record<number, string[]> = {};
    for await (const m of c.fetch('1:*', { uid: true, flags: true, envelope: true, bodyStructure: true, internalDate: true, size: true })) {
      flags[m.uid] = [...(m.flags ?? [])];
      assert.equal(m.envelope?.from?.[0]?.address, 'alice@example.org');
      assert.equal(m.bodyStructure?.type, 'text/plain');
    }
    assert.deepEqual(Object.values(flags), [['\\Flagged'], []]);
    const one = await c.fetchOne('1', { source: true, bodyParts: ['1', 'HEADER'] });
    assert.ok(one && one.source?.toString().includes('Subject: first'));

    await c.messageFlagsAdd('2', ['\\Deleted', '$Custom']);
    const after = await c.fetchOne('2', { flags: true });
    assert.ok(after && after.flags?.has('\\Deleted') && after.flags.has('$Custom'));
    await c.mailboxClose();
    const reopened = await c.mailboxOpen('INBOX');
    assert.equal(reopened.exists, 1, 'CLOSE expunged the \\Deleted message');
    await c.messageFlagsAdd('1', ['\\Deleted']);
    await c.messageDelete('1');
    const status = await c.status('INBOX', { messages: true, uidNext: true, unseen: true });
    assert.ok(status !== false);
    assert.equal(status.messages, 0);
  } finally {
    await c.logout();
  }

  const plain = client(false);
  await plain.connect();
  const list = await plain.list();
  assert.ok(list.some((f) => f.specialUse === '\\Sent'), 'special-use folders listed');
  await plain.logout();
});

test('imapflow: a bad password is AUTHENTICATIONFAILED', async () => {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port: server.port('imaps'),
    secure: true,
    tls: { ca: [server.cert], servername: 'localhost' },
    auth: { user: server.demo.address, pass: 'wrong' },
    logger: false,
  });
  await assert.rejects(c.connect(), (error: Error & { serverResponseCode?: string; authenticationFailed?: boolean }) => {
    assert.ok(error.authenticationFailed === true || error.serverResponseCode === 'AUTHENTICATIONFAILED', String(error.message));
    return true;
  });
});
