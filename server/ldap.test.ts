// Proves a server configured with LDAP end to end: `startServer` reads ldap.json plus the
// --ldap-* settings (and saves them), users log in through the FrontEndContext by LDAP bind,
// their mailboxes are created in the database LDAP names at first use, groups resolve, writes
// are refused clearly (admin API and the offline `quire` command), an LDAP user's mailbox moves
// (the new database kept in the server's override map, as LDAP is read-only), and once slapd is gone
// logins and recipients are temporary failures (IMAP NO [UNAVAILABLE], SMTP 451 4.4.3).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { imapAnswer, smtpAnswer } from '../engine/errors.js';
import { ldapDave, startTestLdap } from '../engine/directory/ldap-testing.js';
import { ldapBaseDn, ldapRootDn } from '../scripts/services/services.js';
import { adminCall, curlHttps } from '../protocols/http/testing.js';
import { RawImap } from '../protocols/imap/testing.js';
import { Pop3TestClient } from '../protocols/pop3/testing.js';
import { SmtpTalk } from '../protocols/smtp/testing.js';
import { startServer } from './server.js';

const bin = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));
const peer = { protocol: 'imap' as const, address: '127.0.0.1' };

test('a server on LDAP: bind logins through the front-end context, mailboxes at first use, unavailable when LDAP is down', { timeout: 120_000 }, async () => {
  const slapd = await startTestLdap();
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-ldap-server-'));
  const printed: string[] = [];
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    // Mapping and cache in the file; connection settings from the command line.
    writeFileSync(join(dataDir, 'ldap.json'), JSON.stringify({ attributes: { database: 'departmentNumber', quota: 'employeeType' }, cacheTtlMs: 0 }));
    const passwordFile = join(dataDir, 'ldap.pw');
    writeFileSync(passwordFile, `${slapd.rootPassword}\n`);
    server = await startServer({
      dataDir,
      server: 'MBX1',
      domain: 'example.org',
      listen: '127.0.0.1',
      portOffset: 0,
      ports: 'ephemeral',
      logLevel: 'silent',
      say: (line) => printed.push(line),
      ldap: { url: slapd.url, bindDn: ldapRootDn, bindPasswordFile: passwordFile, baseDn: ldapBaseDn },
    });
    const saved = JSON.parse(readFileSync(join(dataDir, 'ldap.json'), 'utf8'));
    assert.equal(saved.url, slapd.url);
    assert.equal(saved.bindPasswordFile, passwordFile);
    assert.deepEqual(saved.domains, ['example.org']);
    assert.equal(saved.bindPassword, undefined, 'the password stays in its file');
    assert.ok(printed.some((line) => line.includes(`directory      LDAP ${slapd.url}`)), printed.join('\n'));
    assert.ok(!printed.some((line) => line.includes('demo mailbox')), 'no demo mailbox: users come from LDAP');

    const { context, supervisor } = server;
    const alice = await context.authenticate('alice@example.org', 'alice-pw', peer);
    assert.ok(alice.ok, JSON.stringify(alice));
    assert.equal(alice.value.database, 'DB01');
    const mailbox = await supervisor.api('DB01').mailbox(alice.value.mailboxId);
    assert.ok(mailbox.ok, JSON.stringify(mailbox));
    assert.equal(mailbox.value.address, 'alice@example.org');
    const folders = await supervisor.api('DB01').folders(alice.value.mailboxId);
    assert.ok(folders.ok && folders.value.some((f) => f.name === 'INBOX'));
    // A second login finds the same mailbox.
    const again = await context.authenticate('alice@example.org', 'alice-pw', peer);
    assert.ok(again.ok && again.value.mailboxId === alice.value.mailboxId);

    const wrong = await context.authenticate('alice@example.org', 'bob-pw', peer);
    assert.equal(!wrong.ok && wrong.code, 'AUTHENTICATION_FAILED');

    // A group resolves to users in both databases; dave's mailbox is made in DB02 with LDAP's quota.
    const all = await context.resolveRecipient('all@example.org');
    assert.ok(all.ok, JSON.stringify(all));
    assert.deepEqual(all.value.map((a) => a.address).sort(), ['alice@example.org', 'bob@example.org', 'carol@example.org', 'dave@example.org']);
    const dave = all.value.find((a) => a.address === ldapDave.mail)!;
    assert.equal(dave.database, 'DB02');
    const daveBox = await supervisor.api('DB02').mailbox(dave.mailboxId);
    assert.ok(daveBox.ok, JSON.stringify(daveBox));
    assert.equal(daveBox.value.quotaBytes, 500 * 1024 * 1024);
    const unknown = await context.resolveRecipient('nobody@example.org');
    assert.equal(!unknown.ok && unknown.code, 'NO_SUCH_USER');
    assert.deepEqual(await context.isAcceptedDomain('example.org'), { ok: true, value: true });

    // Real clients over real sockets: IMAP LOGIN by LDAP bind, LMTP RCPT resolved in LDAP,
    // Autodiscover and the address book (curl) from LDAP's entries.
    const imap = await RawImap.connect(server.ports.imaps!, { tls: true, ca: server.tlsCert });
    assert.match((await imap.line())!, /^\* OK/);
    assert.match((await imap.command('LOGIN carol@example.org carol-pw')).tagged, /^\S+ OK/);
    const lmtp = await SmtpTalk.connect(server.ports.lmtp!);
    assert.equal((await lmtp.reply()).code, 220);
    assert.equal((await lmtp.command('LHLO client.test')).code, 250);
    assert.equal((await lmtp.command('MAIL FROM:<sender@remote.test>')).code, 250);
    assert.equal((await lmtp.command('RCPT TO:<staff@example.org>')).code, 250);
    assert.equal((await lmtp.command('RSET')).code, 250);
    const caFile = join(dataDir, 'ca.pem');
    writeFileSync(caFile, server.tlsCert);
    const discover = await curlHttps(server.ports.https!, caFile, '/autodiscover/autodiscover.xml', { user: 'bob@example.org:bob-pw', xml:
      '<Autodiscover><Request><EMailAddress>robert@example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>' });
    assert.equal(discover.status, 200);
    assert.match(discover.body, /<DisplayName>Bob Test<\/DisplayName>\s*<AutoDiscoverSMTPAddress>bob@example\.org</);
    const book = await curlHttps(server.ports.https!, caFile, '/addressbook/v1/global.vcf', { user: 'bob@example.org:bob-pw' });
    assert.equal(book.status, 200);
    assert.match(book.body, /\r\nFN:Dave Test\r\nEMAIL;TYPE=work;PREF=1:dave@example\.org\r\n/);
    assert.match(book.body, /\r\nKIND:group\r\nFN:staff\r\nEMAIL;TYPE=work;PREF=1:staff@example\.org\r\nMEMBER:mailto:alice@example\.org\r\n/);

    // A move of an LDAP user: LDAP is read-only, so where the mailbox now lives is kept in the
    // server's override map (ldap-databases.json), which wins over LDAP's attribute from the switch on.
    const move = await server.moves.start('alice@example.org', 'DB02');
    assert.ok(move.ok, JSON.stringify(move));
    const moved = (await server.moves.wait(move.value.id))!;
    assert.equal(moved.state, 'done', moved.error);
    const overrides = JSON.parse(readFileSync(join(dataDir, 'ldap-databases.json'), 'utf8')) as { databases: Record<string, string> };
    assert.deepEqual(overrides.databases, { [alice.value.mailboxId]: 'DB02' });
    const movedLogin = await context.authenticate('alice@example.org', 'alice-pw', peer);
    assert.ok(movedLogin.ok && movedLogin.value.database === 'DB02', JSON.stringify(movedLogin));
    assert.ok((await supervisor.api('DB02').folders(alice.value.mailboxId)).ok);
    assert.equal((await supervisor.api('DB01').mailbox(alice.value.mailboxId) as { code?: string }).code, 'NO_SUCH_MAILBOX', 'not provisioned again in the database LDAP names');
    const movedRcpt = await context.resolveRecipient('alice@example.org');
    assert.ok(movedRcpt.ok && movedRcpt.value[0]!.database === 'DB02');

    // Writes: the admin API says LDAP is read-only.
    const answer = await adminCall(server.ports.https!, server.tlsCert, server.adminToken, 'POST', '/api/v1/users', { address: 'eve@example.org', password: 'pw' });
    assert.equal(answer.status, 403);
    assert.equal(answer.json().error, 'NOT_AUTHORIZED');
    assert.match(answer.json().message, /only reads: add users in LDAP/);

    await slapd.stop();
    const down = await context.authenticate('bob@example.org', 'bob-pw', peer);
    assert.ok(!down.ok);
    assert.equal(down.code, 'DIRECTORY_UNAVAILABLE');
    assert.match(imapAnswer(down), /^NO \[UNAVAILABLE\] /);
    const rcpt = await context.resolveRecipient('alice@example.org');
    assert.ok(!rcpt.ok);
    assert.deepEqual([smtpAnswer(rcpt).code, smtpAnswer(rcpt).enhanced], [451, '4.4.3']);
    const find = await context.findAccount('alice@example.org');
    assert.equal(!find.ok && find.code, 'DIRECTORY_UNAVAILABLE');
    // The same over the wire: a temporary answer at LOGIN and at RCPT, so nothing is accepted and lost.
    const imap2 = await RawImap.connect(server.ports.imaps!, { tls: true, ca: server.tlsCert });
    assert.match((await imap2.line())!, /^\* OK/);
    assert.match((await imap2.command('LOGIN bob@example.org bob-pw')).tagged, /^\S+ NO \[UNAVAILABLE\] /);
    assert.equal((await lmtp.command('MAIL FROM:<sender@remote.test>')).code, 250);
    assert.match((await lmtp.command('RCPT TO:<carol@example.org>')).text, /^451 4\.4\.3 /);
    const pop3 = await Pop3TestClient.connect(server.ports.pop3s!, { tls: true, cert: server.tlsCert });
    assert.match((await pop3.line())!, /^\+OK/);
    assert.match(await pop3.command('USER bob@example.org'), /^\+OK/);
    assert.match(await pop3.command('PASS bob-pw'), /^-ERR \[SYS\/TEMP\] /);
    pop3.close();
    const bookDown = await curlHttps(server.ports.https!, caFile, '/addressbook/v1/global.vcf', { user: 'bob@example.org:bob-pw' });
    assert.equal(bookDown.status, 503);
    for (const client of [imap, imap2, lmtp]) client.close();

    await server.stop();
    server = undefined;
    // Offline, the command line reads ldap.json too and says why it will not add a user.
    const cli = spawnSync(process.execPath, [bin, 'user', 'add', 'eve@example.org', '--password', 'pw', '--data', dataDir], { encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(cli.status, 0);
    assert.match(cli.stderr, /^quire: NOT_AUTHORIZED: the directory is LDAP ldap:\/\/127\.0\.0\.1:\d+\/ .* add users in LDAP, not with quire\n$/);
  } finally {
    await server?.stop();
    await slapd.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
