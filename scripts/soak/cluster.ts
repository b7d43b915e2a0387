// A three-server Quire cluster on loopback for the soak script and the end-to-end tests of
// failover: Kafka (KRaft) and the schema registry carry the log shipping and the servers'
// coordination, OpenLDAP is the one directory every server reads (so a user logs in anywhere),
// and each server is a real `quire start` process (its own process group, so kill -9 of the
// group takes its database workers too, like a machine that dies), with `--port-offset any`.

import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kafka, ldapBaseDn, ldapRootDn, openldap, schemaRegistry, type KafkaHandle, type OpenldapHandle, type RegistryHandle } from '../services/services.js';

const bin = fileURLToPath(new URL('../../../bin/quire.js', import.meta.url));

export interface ClusterOptions {
  readonly servers?: number;
  readonly durability: 'sync' | 'async';
  readonly mountDial?: 'lossless' | 'good' | 'best';
  /** `--restarts-before-failover` of every server (default: the server's). */
  readonly restartsBeforeFailover?: number;
  /** How long a dead server stays in the servers' group (the broker's minimum is 1 s). */
  readonly sessionTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

/** One `quire db list --json` row. */
export interface CopyRow {
  readonly database: string;
  readonly server: string;
  readonly role: 'active' | 'passive';
  readonly state: string;
  readonly lastLogPosition: number;
  readonly error: string | null;
  /** The copy's worker process, while it runs. */
  readonly pid: number | null;
}

export class ServerProcess {
  child: ChildProcess | null = null;
  /** Where this start's stdout and stderr go (the kernel writes the file: nothing is lost while the test is busy). */
  outputFile: string | null = null;
  /** The output as it was when the cluster's folder was removed (stop). */
  kept: string | null = null;
  constructor(readonly name: string, readonly dataDir: string) {}

  /** What the server printed since its last start (the last 200,000 characters). */
  get output(): string {
    if (this.kept !== null) return this.kept;
    if (this.outputFile === null) return '';
    try {
      return readFileSync(this.outputFile, 'utf8').slice(-200_000);
    } catch {
      return '';
    }
  }
}

export class Cluster {
  readonly servers: ServerProcess[] = [];
  private constructor(
    readonly dir: string,
    readonly broker: KafkaHandle,
    readonly registry: RegistryHandle,
    readonly ldap: OpenldapHandle,
    private readonly options: ClusterOptions,
  ) {
    for (let i = 0; i < (options.servers ?? 3); i++) this.servers.push(new ServerProcess(`MBX${i + 1}`, join(dir, `MBX${i + 1}`)));
  }

  /** Starts the services, then every server (the first with the active copies, the others passive). */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const dir = mkdtempSync(join(tmpdir(), 'quire-cluster-'));
    // Generous deadlines: the services start on a machine other builds and tests keep busy.
    const started = await Promise.allSettled([kafka.start({ readyTimeoutMs: 180_000 }), schemaRegistry.start({ readyTimeoutMs: 180_000 }), openldap.start({ readyTimeoutMs: 60_000 })]);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) {
      await Promise.allSettled(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
      rmSync(dir, { recursive: true, force: true });
      throw (failed as PromiseRejectedResult).reason;
    }
    const [broker, registry, ldap] = started.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [KafkaHandle, RegistryHandle, OpenldapHandle];
    writeFileSync(join(dir, 'ldap.pw'), `${ldap.rootPassword}\n`);
    const cluster = new Cluster(dir, broker, registry, ldap, options);
    try {
      await cluster.startServer(0);
      await Promise.all(cluster.servers.slice(1).map((_, i) => cluster.startServer(i + 1)));
      await cluster.until(() => cluster.servers.every((_, i) => cluster.list(i).every((c) => c.state === 'Healthy' || c.state === 'Mounted')), 90_000, 'every copy healthy');
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  private say(line: string): void {
    this.options.log?.(line);
  }

  /** Starts (or restarts) server i; a restarted server reads the control topic and starts its copies passive if another is active. */
  async startServer(i: number): Promise<void> {
    const server = this.servers[i]!;
    rmSync(join(server.dataDir, 'server.json'), { force: true });
    const args = [
      bin, 'start', '--data', server.dataDir, '--server', server.name, '--port-offset', 'any',
      '--kafka', this.broker.bootstrap, '--registry', this.registry.url, '--durability', this.options.durability,
      '--kafka-session-timeout-ms', String(this.options.sessionTimeoutMs ?? 2000),
      ...(this.options.mountDial === undefined ? [] : ['--mount-dial', this.options.mountDial]),
      ...(this.options.restartsBeforeFailover === undefined ? [] : ['--restarts-before-failover', String(this.options.restartsBeforeFailover)]),
      '--ldap-url', this.ldap.url, '--ldap-bind-dn', ldapRootDn, '--ldap-bind-password-file', join(this.dir, 'ldap.pw'), '--ldap-base-dn', ldapBaseDn,
      ...(i === 0 ? [] : ['--passive', 'DB01,DB02']),
    ];
    server.kept = null;
    server.outputFile = join(this.dir, `${server.name}.${Date.now()}.out`);
    const out = openSync(server.outputFile, 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    server.child = child;
    await this.until(() => existsSync(join(server.dataDir, 'server.json')) || child.exitCode !== null, 90_000, `${server.name} to start`);
    if (child.exitCode !== null) throw new Error(`${server.name} exited (${child.exitCode}):\n${server.output.slice(-3000)}`);
    this.say(`${server.name} started (pid ${child.pid})`);
  }

  /** kill -9 of the server's whole process group (supervisor and database workers): a dead machine. */
  kill(i: number): void {
    const child = this.servers[i]!.child;
    if (child === null || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    this.servers[i]!.child = null;
  }

  /** The ports server i really listens on (server.json). */
  ports(i: number): Record<string, number> {
    return (JSON.parse(readFileSync(join(this.servers[i]!.dataDir, 'server.json'), 'utf8')) as { ports: Record<string, number> }).ports;
  }

  running(i: number): boolean {
    return this.servers[i]!.child !== null;
  }

  /** `quire db list --json` against server i (through its admin API). */
  list(i: number): CopyRow[] {
    const r = spawnSync(process.execPath, [bin, 'db', 'list', '--json', '--data', this.servers[i]!.dataDir], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`db list on ${this.servers[i]!.name}: ${r.stderr}`);
    return JSON.parse(r.stdout) as CopyRow[];
  }

  /** The running server whose copy of `database` is active and mounted, or null. */
  activeOf(database: string): number | null {
    for (let i = 0; i < this.servers.length; i++) {
      if (!this.running(i)) continue;
      try {
        if (this.list(i).some((c) => c.database === database && c.role === 'active' && c.state === 'Mounted')) return i;
      } catch {
        // not answering: not the active one
      }
    }
    return null;
  }

  async until(fn: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await Promise.resolve().then(fn).catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /**
   * Stops every server with SIGTERM (a clean shutdown must finish within 30 s; one that does not
   * is killed and named, with the end of its output), then the services.
   */
  async stop(): Promise<string[]> {
    const stuck: string[] = [];
    await Promise.all(
      this.servers.map(async (server) => {
        const child = server.child;
        if (child === null || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = new Promise((resolve) => setTimeout(() => resolve('stuck'), 30_000).unref());
        if ((await Promise.race([exited, timer])) === 'stuck') {
          stuck.push(`${server.name} did not exit 30 s after SIGTERM; its output ends:\n${server.output.slice(-3000)}`);
          process.kill(-child.pid!, 'SIGKILL');
          await exited;
        }
        server.child = null;
      }),
    );
    await Promise.allSettled([this.broker.stop(), this.registry.stop(), this.ldap.stop()]);
    for (const server of this.servers) server.kept = server.output;
    rmSync(this.dir, { recursive: true, force: true });
    return stuck;
  }
}

// Clients: the user every server knows through LDAP, over IMAP (imapflow) and LMTP (nodemailer).

export const user = { address: 'alice@example.org', password: 'alice-pw' };

export function imapClient(port: number): ImapFlow {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    auth: { user: user.address, pass: user.password },
    logger: false,
    tls: { rejectUnauthorized: false },
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 15_000,
  });
  client.on('error', () => {});
  return client;
}

export async function closeQuietly(client: ImapFlow): Promise<void> {
  await client.logout().catch(() => client.close());
}

/** LOGIN and SELECT INBOX on server i; true when both succeed. */
export async function canSelect(cluster: Cluster, i: number): Promise<boolean> {
  const client = imapClient(cluster.ports(i).imap!);
  try {
    await client.connect();
    await client.mailboxOpen('INBOX');
    return true;
  } catch {
    return false;
  } finally {
    await closeQuietly(client);
  }
}

/** Every Subject in INBOX on server i. */
export async function subjects(cluster: Cluster, i: number): Promise<Set<string>> {
  const client = imapClient(cluster.ports(i).imap!);
  try {
    await client.connect();
    const box = await client.mailboxOpen('INBOX');
    const found = new Set<string>();
    if (box.exists > 0) for await (const message of client.fetch('1:*', { envelope: true })) if (message.envelope?.subject) found.add(message.envelope.subject);
    return found;
  } finally {
    await closeQuietly(client);
  }
}

/** One message over LMTP to server i; true when the server answered 250 for the recipient. */
export async function deliver(cluster: Cluster, i: number, subject: string): Promise<boolean> {
  try {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: cluster.ports(i).lmtp!, lmtp: true, ignoreTLS: true, connectionTimeout: 3_000, greetingTimeout: 3_000, socketTimeout: 10_000 });
    const info = await transport.sendMail({ from: 'soak@example.net', to: user.address, subject, text: `${subject}\r\n${'x'.repeat(200)}\r\n` });
    return info.accepted.includes(user.address);
  } catch {
    return false;
  }
}

/**
 * Async mode's lossy situation, for the tests of lossy failovers: server 0 delivers 3 messages
 * that reach server 1, then Kafka is frozen (SIGSTOP) while server 0 acknowledges 4 more LMTP
 * deliveries and an IMAP APPEND (async answers once durable on the active copy) that never ship.
 * Resolves with the subjects acknowledged, the broker still frozen: the caller fails server 0
 * its own way, then calls thaw() (also safe to call again, e.g. in a finally).
 */
export async function unshippedTail(cluster: Cluster, database: string): Promise<{ acknowledged: string[]; thaw: () => void }> {
  const copy = (i: number) => cluster.list(i).find((c) => c.database === database)!;
  const acknowledged: string[] = [];
  const send = async (subject: string): Promise<void> => {
    if (!(await deliver(cluster, 0, subject))) throw new Error(`no LMTP 250 for ${subject} on ${cluster.servers[0]!.name}`);
    acknowledged.push(subject);
  };
  for (let n = 0; n < 3; n++) await send(`shipped ${n}`);
  await cluster.until(() => copy(1).lastLogPosition === copy(0).lastLogPosition, 30_000, `${cluster.servers[1]!.name} to catch up`);
  let frozen = true;
  const thaw = (): void => {
    if (frozen) process.kill(-cluster.broker.pid, 'SIGCONT');
    frozen = false;
  };
  process.kill(-cluster.broker.pid, 'SIGSTOP');
  try {
    for (let n = 0; n < 4; n++) await send(`only on MBX1 ${n}`);
    const client = imapClient(cluster.ports(0).imap!);
    await client.connect();
    await client.append('INBOX', 'Subject: appended on MBX1\r\nFrom: alice@example.org\r\n\r\nonly in the log\r\n');
    acknowledged.push('appended on MBX1');
    await closeQuietly(client);
  } catch (error) {
    thaw();
    throw error;
  }
  return { acknowledged, thaw };
}
