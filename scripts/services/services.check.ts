// Proves each throwaway service installs, starts on 127.0.0.1, does its job (Kafka round
// trip, Avro schema registration, LDAP user bind, LMTP delivery read back over IMAP and
// POP3), and stops with its PID gone, its port free and its folder removed.
// Not part of `npm test` (it needs minutes and real downloads on a fresh machine): run by
// hand with `node dist/scripts/services/services.check.js [kafka|registry|openldap|dovecot]`.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { portFree, run } from './runner.js';
import { dovecot, kafka, ldapDefaultUsers, ldapUserDn, openldap, schemaRegistry, type ServiceHandle } from './services.js';

const only = process.argv.slice(2);
// Filtering by argument leaves the other services' tests undefined rather than skipped.
const wanted = (name: string) => only.length === 0 || only.includes(name);

/** Runs the checks; on failure shows what the service printed, which usually says why. */
async function checking(h: ServiceHandle, ports: number[], checks: () => Promise<void>): Promise<void> {
  try {
    await checks();
  } catch (err) {
    console.error(`--- ${h.service} output ---\n${h.output().slice(-60).join('\n')}`);
    throw err;
  } finally {
    await assertStopped(h, ports);
  }
}

async function assertStopped(h: ServiceHandle, ports: number[]): Promise<void> {
  await h.stop();
  assert.throws(() => process.kill(h.pid, 0), /ESRCH/, `pid ${h.pid} is still alive`);
  for (const port of ports) assert.ok(await portFree(port), `port ${port} is still bound`);
  assert.ok(!existsSync(h.dir), `${h.dir} was not removed`);
}

/** A line-oriented TCP client for IMAP, POP3 and LMTP conversations. */
class LineClient {
  private buffer = '';
  private waiter: (() => void) | undefined;
  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buffer += d;
      this.waiter?.();
    });
  }

  static connect(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Reads until `done(text so far)` holds; returns the text and consumes it. */
  async until(done: (text: string) => boolean, timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.buffer)) {
      if (Date.now() > deadline) throw new Error(`timed out; received so far:\n${this.buffer}`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 100);
      });
    }
    const text = this.buffer;
    this.buffer = '';
    return text;
  }

  async command(line: string, done: (text: string) => boolean): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.until(done);
  }

  close(): void {
    this.socket.destroy();
  }
}

const smtpDone = (t: string) => /^\d{3} [^\r\n]*\r\n/m.test(t);
const tagged = (tag: string) => (t: string) => new RegExp(`^${tag} (OK|NO|BAD)`, 'm').test(t);

if (wanted('openldap')) test('openldap: seeded users bind, cannot read userPassword, wrong password fails', async () => {
  const h = await openldap.start();
  await checking(h, [h.port], async () => {
    const alice = ldapDefaultUsers[0];
    const who = run('check', 'ldapwhoami', 'ldapwhoami', ['-x', '-H', h.url, '-D', ldapUserDn(alice.uid), '-w', alice.password]);
    assert.equal(who.stdout.trim(), `dn:${ldapUserDn(alice.uid)}`);
    const self = run('check', 'ldapsearch', 'ldapsearch', [
      '-x', '-LLL', '-H', h.url, '-D', ldapUserDn(alice.uid), '-w', alice.password, '-b', h.baseDn, `(uid=${alice.uid})`, 'userPassword', 'mail', 'mailLocalAddress',
    ]);
    assert.match(self.stdout, /mail: alice@example.org/);
    assert.match(self.stdout, /mailLocalAddress: a.liddell@example.org/);
    assert.doesNotMatch(self.stdout, /userPassword/);
    const group = run('check', 'ldapsearch', 'ldapsearch', ['-x', '-LLL', '-H', h.url, '-b', h.baseDn, '(cn=staff)', 'member']);
    assert.equal(group.stdout.match(/^member:/gm)?.length, ldapDefaultUsers.length);
    const bad = run('check', 'ldapwhoami', 'ldapwhoami', ['-x', '-H', h.url, '-D', ldapUserDn(alice.uid), '-w', 'wrong'], { allowFail: true });
    assert.equal(bad.status, 49, 'invalid credentials is LDAP result 49');
    console.log(`openldap ready in ${h.readyMs} ms`);
  });
});

for (const mailFormat of ['maildir', 'mdbox'] as const) if (wanted('dovecot')) test(`dovecot (${mailFormat}): LMTP delivery is read back over IMAP and POP3`, async () => {
  const users = [{ name: 'alice@example.org', password: 'alice-pw' }];
  const h = await dovecot.start({ users, mailFormat });
  await checking(h, [h.imapPort, h.pop3Port, h.lmtpPort], async () => {
    const lmtp = await LineClient.connect(h.lmtpPort);
    assert.match(await lmtp.until(smtpDone), /^220 /);
    assert.match(await lmtp.command('LHLO check.example.org', smtpDone), /^250 /m);
    assert.match(await lmtp.command('MAIL FROM:<bob@example.org>', smtpDone), /^250 /);
    assert.match(await lmtp.command('RCPT TO:<alice@example.org>', smtpDone), /^250 /);
    assert.match(await lmtp.command('DATA', smtpDone), /^354 /);
    const body = 'From: bob@example.org\r\nTo: alice@example.org\r\nSubject: check\r\n\r\nhello from the services check\r\n.';
    assert.match(await lmtp.command(body, smtpDone), /^250 /);
    await lmtp.command('QUIT', smtpDone);
    lmtp.close();

    const imap = await LineClient.connect(h.imapPort);
    assert.match(await imap.until((t) => t.includes('\r\n')), /^\* OK/);
    assert.match(await imap.command('a LOGIN alice@example.org alice-pw', tagged('a')), /^a OK/m);
    const select = await imap.command('b SELECT INBOX', tagged('b'));
    assert.match(select, /^\* 1 EXISTS/m);
    assert.match(select, /^b OK/m);
    assert.match(await imap.command('c FETCH 1 BODY[]', tagged('c')), /hello from the services check/);
    await imap.command('d LOGOUT', tagged('d'));
    imap.close();

    const pop3 = await LineClient.connect(h.pop3Port);
    assert.match(await pop3.until((t) => t.includes('\r\n')), /^\+OK/);
    assert.match(await pop3.command('USER alice@example.org', (t) => t.includes('\r\n')), /^\+OK/);
    assert.match(await pop3.command('PASS alice-pw', (t) => t.includes('\r\n')), /^\+OK/);
    assert.match(await pop3.command('STAT', (t) => t.includes('\r\n')), /^\+OK 1 /);
    await pop3.command('QUIT', (t) => t.includes('\r\n'));
    pop3.close();
    console.log(`dovecot (${mailFormat}) ready in ${h.readyMs} ms`);
  });
});

if (wanted('kafka')) test('kafka: a record produced is consumed by a consumer group', async () => {
  const h = await kafka.start();
  await checking(h, [h.port, h.controllerPort], async () => {
    const server = ['--bootstrap-server', h.bootstrap];
    const created = h.tool('org.apache.kafka.tools.TopicCommand', [...server, '--create', '--topic', 'check', '--partitions', '1', '--replication-factor', '1']);
    assert.match(created.stdout, /Created topic check/);
    h.tool('org.apache.kafka.tools.ConsoleProducer', [...server, '--topic', 'check'], 'first\nsecond\n');
    const consumed = h.tool('org.apache.kafka.tools.consumer.ConsoleConsumer', [
      ...server, '--topic', 'check', '--group', 'check-group', '--from-beginning', '--max-messages', '2', '--timeout-ms', '30000',
    ]);
    assert.deepEqual(consumed.stdout.trim().split('\n'), ['first', 'second']);
    // The group committed its offsets: the offsets topic works at replication factor 1.
    const groups = h.tool('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', [...server, '--describe', '--group', 'check-group']);
    assert.match(groups.stdout, /check-group\s+check\s+0\s+2\s+2\s+0/);
    console.log(`kafka ready in ${h.readyMs} ms`);
  });
});

if (wanted('registry')) test('registry: Avro schemas register through the Confluent API under BACKWARD', async () => {
  const h = await schemaRegistry.start();
  await checking(h, [h.port], async () => {
    const post = (schema: object) =>
      fetch(`${h.url}/subjects/quire-batch-value/versions`, {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schema: JSON.stringify(schema) }),
      });
    const v1 = { type: 'record', name: 'Batch', namespace: 'quire', fields: [{ name: 'offset', type: 'long' }] };
    const v2 = { ...v1, fields: [...v1.fields, { name: 'records', type: 'int', default: 0 }] };
    const broken = { ...v1, fields: [{ name: 'offset', type: 'string' }] };
    const first = await post(v1);
    assert.equal(first.status, 200);
    const { id } = (await first.json()) as { id: number };
    assert.equal(((await (await post(v1)).json()) as { id: number }).id, id, 'same schema, same id');
    assert.equal((await post(v2)).status, 200);
    assert.equal((await post(broken)).status, 409, 'an incompatible change is refused');
    const versions = await (await fetch(`${h.url}/subjects/quire-batch-value/versions`)).json();
    assert.deepEqual(versions, [1, 2]);
    const byId = (await (await fetch(`${h.url}/schemas/ids/${id}`)).json()) as { schema: string };
    assert.deepEqual(JSON.parse(byId.schema), v1);
    console.log(`registry (Apicurio ${h.version}) ready in ${h.readyMs} ms`);
  });
});
