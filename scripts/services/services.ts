// Throwaway real services for tests and benchmarks: Kafka (KRaft), an Apicurio schema
// registry (Confluent API), OpenLDAP slapd and Dovecot. Each exports ensureInstalled()
// (idempotent; installs into .cache/ and ~/.m2, or with apt without starting daemons) and
// start(opts) -> handle, which binds 127.0.0.1 only, keeps its data in a temp folder,
// waits for readiness against a deadline and is stopped by handle.stop().
// Run as a script it is a small CLI: `start <service> [--port N]`, `install all|<service>`.

import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  apicurioJavaMajorMinNew,
  apicurioVersionNew,
  apicurioVersionOld,
  dovecotMailUser,
  dovecotReadyTimeoutMs,
  installTimeoutMs,
  javaHeapInitialMb,
  javaHeapMaxMb,
  javaStopGraceMs,
  kafkaReadyTimeoutMs,
  kafkaVersion,
  mavenDependencyPlugin,
  nativeStopGraceMs,
  openldapReadyTimeoutMs,
  registryReadyTimeoutMs,
} from './constants.js';
import {
  aptInstall,
  cacheDir,
  claimPort,
  commandExists,
  isRoot,
  makeTempDir,
  portAccepts,
  repoRoot,
  run,
  ServiceError,
  spawnService,
  stopSpawned,
  waitReady,
  type RunResult,
  type ServiceHandle,
  type Spawned,
} from './runner.js';

export { ServiceError, type ServiceHandle, type RunResult } from './runner.js';

interface CommonOptions {
  /** Give up waiting for readiness after this long (the service is then stopped). */
  readyTimeoutMs?: number;
  /** Mirror the service's output to stderr, prefixed by its name (for humans). */
  echo?: boolean;
}

interface JavaOptions extends CommonOptions {
  /** Maximum heap; the initial heap is min(256, this). 512 for tests, 1024 for benchmarks. */
  heapMaxMb?: number;
}

function makeHandle<T extends object>(
  service: string,
  s: Spawned,
  port: number,
  dir: string,
  readyMs: number,
  graceMs: number,
  extra: T,
): ServiceHandle & T {
  let stopping: Promise<void> | undefined;
  return {
    service,
    pid: s.pid,
    port,
    dir,
    readyMs,
    output: () => [...s.out.lines],
    stop: () => (stopping ??= stopSpawned(service, s, dir, graceMs)),
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------
// Java and Maven

function javaMajor(javaBin: string): number | undefined {
  const r = run('java', 'java -version', javaBin, ['-version'], { allowFail: true });
  const m = /version "(\d+)(?:\.(\d+))?/.exec(r.stderr + r.stdout);
  if (m === null) return undefined;
  // Java 8 and older report "1.8"; everything we run needs 17+ anyway.
  return m[1] === '1' ? Number(m[2]) : Number(m[1]);
}

/** A java binary of at least `majorMin`: JAVA_HOME, then PATH, then /usr/lib/jvm/*. */
function findJava(majorMin: number): { bin: string; major: number } | undefined {
  const candidates: string[] = [];
  if (process.env.JAVA_HOME) candidates.push(join(process.env.JAVA_HOME, 'bin', 'java'));
  if (commandExists('java')) candidates.push('java');
  if (existsSync('/usr/lib/jvm')) {
    for (const name of readdirSync('/usr/lib/jvm').sort().reverse()) candidates.push(join('/usr/lib/jvm', name, 'bin', 'java'));
  }
  for (const bin of candidates) {
    if (bin !== 'java' && !existsSync(bin)) continue;
    const major = javaMajor(bin);
    if (major !== undefined && major >= majorMin) return { bin, major };
  }
  return undefined;
}

function ensureJavaAndMaven(service: string): string {
  if (findJava(17) === undefined) aptInstall(service, ['openjdk-17-jre-headless']);
  if (!commandExists('mvn')) aptInstall(service, ['maven']);
  const java = findJava(17);
  if (java === undefined) throw new ServiceError(service, 'java lookup', 'no Java 17 or newer found after installing openjdk-17');
  return java.bin;
}

function heapArgs(heapMaxMb: number | undefined): string[] {
  const max = heapMaxMb ?? javaHeapMaxMb;
  return [`-Xms${Math.min(javaHeapInitialMb, max)}m`, `-Xmx${max}m`];
}

function mvn(service: string, step: string, args: string[]): void {
  // -U: retry resolutions an earlier failed run left cached as missing in ~/.m2.
  run(service, step, 'mvn', ['-B', '-q', '-U', ...args], { cwd: repoRoot(), timeoutMs: installTimeoutMs });
}

/**
 * Fills a fresh folder beside `target` with `fill`, then renames it into place, so a
 * half-done install is never mistaken for a finished one and two concurrent installers
 * cannot mix files: the loser of the rename throws its copy away.
 */
function installAtomically(service: string, target: string, stamp: string, fill: (dir: string) => void): void {
  const stampFile = join(target, '.installed');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  mkdirSync(cacheDir(), { recursive: true });
  const temp = mkdtempSync(`${target}.tmp-`);
  try {
    fill(temp);
    writeFileSync(join(temp, '.installed'), stamp);
    // Another process may have finished the same install meanwhile: keep its copy.
    if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
    rmSync(target, { recursive: true, force: true });
    try {
      renameSync(temp, target);
    } catch (err) {
      if (!(existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp)) {
        throw new ServiceError(service, 'install', `could not move ${temp} to ${target}: ${(err as Error).message}`);
      }
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// Kafka

const kafkaPom = () => join(repoRoot(), 'scripts', 'services', 'kafka', 'pom.xml');
const kafkaLib = () => join(cacheDir(), 'kafka-lib');

// Tools (topic creation, console producer) only need warnings, on stderr.
const log4jTools = `status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
`;

const log4jBroker = `status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
`;

export interface KafkaOptions extends JavaOptions {
  /** PLAINTEXT listener (clients). Picked free when absent. */
  port?: number;
  /** CONTROLLER listener (KRaft quorum). Picked free when absent. */
  controllerPort?: number;
  /** Extra or overriding server.properties entries. */
  properties?: Record<string, string>;
}

export interface KafkaExtra {
  /** `127.0.0.1:port`, for a client's `brokers` list. */
  bootstrap: string;
  controllerPort: number;
  /** Runs a Kafka command-line tool class from the same jars, e.g. org.apache.kafka.tools.TopicCommand. */
  tool(mainClass: string, args: string[], input?: string): RunResult;
}
export type KafkaHandle = ServiceHandle & KafkaExtra;

function kafkaServerProperties(dir: string, port: number, controllerPort: number, extra: Record<string, string>): string {
  const p: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    // Static voters: the storage is formatted without --standalone.
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(dir, 'data'),
    'num.partitions': '1',
    // One broker: internal topics at replication factor 3 would never be created, and
    // consumer groups hang on "group coordinator not available".
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '1',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'transaction.state.log.num.partitions': '1',
    'share.coordinator.state.topic.replication.factor': '1',
    'share.coordinator.state.topic.min.isr': '1',
    'group.initial.rebalance.delay.ms': '0',
    // Lets failover tests use short consumer session timeouts.
    'group.min.session.timeout.ms': '1000',
    ...extra,
  };
  return Object.entries(p).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
}

/** A KRaft cluster id: 16 random bytes, base64url, never starting with '-'. */
function kafkaClusterId(): string {
  for (;;) {
    const id = createHash('sha256').update(`${process.pid}.${Date.now()}.${Math.random()}`).digest().subarray(0, 16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export const kafka = {
  ensureInstalled(): void {
    ensureJavaAndMaven('kafka');
    const pom = readFileSync(kafkaPom(), 'utf8');
    const stamp = createHash('sha256').update(pom).digest('hex');
    installAtomically('kafka', kafkaLib(), stamp, (dir) => {
      mvn('kafka', 'maven copy-dependencies', [
        '-f', kafkaPom(), `${mavenDependencyPlugin}:copy-dependencies`, '-DincludeScope=runtime', `-DoutputDirectory=${dir}`,
      ]);
      if (!existsSync(join(dir, `kafka_2.13-${kafkaVersion}.jar`))) {
        throw new ServiceError('kafka', 'maven copy-dependencies', `kafka_2.13-${kafkaVersion}.jar missing from ${dir}`);
      }
    });
  },

  async start(opts: KafkaOptions = {}): Promise<KafkaHandle> {
    kafka.ensureInstalled();
    const java = findJava(17)!.bin;
    const port = await claimPort('kafka', opts.port);
    const controllerPort = await claimPort('kafka', opts.controllerPort);
    const dir = makeTempDir('kafka');
    const classpath = `${kafkaLib()}/*`;
    const toolsLog = join(dir, 'log4j2-tools.properties');
    const brokerLog = join(dir, 'log4j2.properties');
    const config = join(dir, 'server.properties');
    try {
      writeFileSync(toolsLog, log4jTools);
      writeFileSync(brokerLog, log4jBroker);
      writeFileSync(config, kafkaServerProperties(dir, port, controllerPort, opts.properties ?? {}));
      run('kafka', 'storage format', java, [
        '-Xmx256m', `-Dlog4j2.configurationFile=${toolsLog}`, '-cp', classpath,
        'kafka.tools.StorageTool', 'format', '-t', kafkaClusterId(), '-c', config,
      ], { cwd: dir });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const marker = 'Kafka Server started';
    const started = Date.now();
    const s = spawnService('kafka', java, [
      ...heapArgs(opts.heapMaxMb), `-Dlog4j2.configurationFile=${brokerLog}`, `-Djava.io.tmpdir=${dir}`,
      '-cp', classpath, 'kafka.Kafka', config,
    ], { cwd: dir, dir, echo: opts.echo ?? false, markers: [marker] });
    await waitReady('kafka', s, dir, opts.readyTimeoutMs ?? kafkaReadyTimeoutMs, javaStopGraceMs,
      async () => s.out.sawMarker(marker) && (await portAccepts(port)));
    const bootstrap = `127.0.0.1:${port}`;
    return makeHandle('kafka', s, port, dir, Date.now() - started, javaStopGraceMs, {
      bootstrap,
      controllerPort,
      tool: (mainClass: string, args: string[], input?: string) =>
        run('kafka', mainClass, java, ['-Xmx256m', `-Dlog4j2.configurationFile=${toolsLog}`, '-cp', classpath, mainClass, ...args], {
          cwd: dir,
          input,
        }),
    });
  },
};

// ---------------------------------------------------------------------------------------
// Schema registry (Apicurio, Confluent-compatible API)

function apicurioChoice(): { version: string; java: string } {
  const forced = process.env.QUIRE_APICURIO_VERSION;
  const java21 = findJava(apicurioJavaMajorMinNew);
  if (forced === apicurioVersionOld || (forced === undefined && java21 === undefined)) {
    return { version: apicurioVersionOld, java: findJava(17)!.bin };
  }
  if (java21 === undefined) {
    throw new ServiceError('registry', 'java lookup',
      `Apicurio ${apicurioVersionNew} needs Java ${apicurioJavaMajorMinNew}+ and none was found (JAVA_HOME, PATH, /usr/lib/jvm)`);
  }
  if (forced !== undefined && forced !== apicurioVersionNew) {
    throw new ServiceError('registry', 'version choice', `QUIRE_APICURIO_VERSION must be ${apicurioVersionNew} or ${apicurioVersionOld}, not ${forced}`);
  }
  return { version: apicurioVersionNew, java: java21.bin };
}

const apicurioDir = (version: string) => join(cacheDir(), 'apicurio', version);

function apicurioJar(dir: string): string {
  if (existsSync(join(dir, 'quarkus-run.jar'))) return join(dir, 'quarkus-run.jar');
  const runner = readdirSync(dir).find((f) => f.endsWith('-runner.jar'));
  if (runner === undefined) throw new ServiceError('registry', 'install check', `no quarkus-run.jar or *-runner.jar in ${dir}`);
  return join(dir, runner);
}

export interface RegistryOptions extends JavaOptions {
  port?: number;
}
export interface RegistryExtra {
  /** Base URL of the Confluent-compatible API, for `new SchemaRegistry({ host })`. */
  url: string;
  /** The Apicurio version that runs. */
  version: string;
}
export type RegistryHandle = ServiceHandle & RegistryExtra;

export const schemaRegistry = {
  ensureInstalled(): { version: string; java: string } {
    ensureJavaAndMaven('registry');
    const choice = apicurioChoice();
    mkdirSync(join(cacheDir(), 'apicurio'), { recursive: true });
    installAtomically('registry', apicurioDir(choice.version), choice.version, (dir) => {
      mvn('registry', 'maven copy', [
        `${mavenDependencyPlugin}:copy`, `-Dartifact=io.apicurio:apicurio-registry-app:${choice.version}:tar.gz:all`, `-DoutputDirectory=${dir}`,
      ]);
      const tarball = readdirSync(dir).find((f) => f.endsWith('.tar.gz'));
      if (tarball === undefined) throw new ServiceError('registry', 'maven copy', `no tarball in ${dir}`);
      run('registry', 'unpack', 'tar', ['xzf', tarball], { cwd: dir, timeoutMs: installTimeoutMs });
      rmSync(join(dir, tarball));
      apicurioJar(dir);
    });
    return choice;
  },

  async start(opts: RegistryOptions = {}): Promise<RegistryHandle> {
    const { version, java } = schemaRegistry.ensureInstalled();
    const port = await claimPort('registry', opts.port);
    const dir = makeTempDir('registry');
    const url = `http://127.0.0.1:${port}/apis/ccompat/v7`;
    const started = Date.now();
    const s = spawnService('registry', java, [
      ...heapArgs(opts.heapMaxMb),
      `-Djava.io.tmpdir=${dir}`,
      '-Dquarkus.http.host=127.0.0.1',
      `-Dquarkus.http.port=${port}`,
      // 3.x opens a management port (9000 by default); nothing here needs it.
      '-Dquarkus.management.enabled=false',
      '-Dquarkus.management.host=127.0.0.1',
      // It still opens on 3.x (enabled is fixed at build time): a free port, so two registries (tests in parallel) do not collide on 9000.
      '-Dquarkus.management.port=0',
      // Without a global rule, register() can throw for a subject that has none of its own.
      // 3.x reads apicurio.*, 2.x reads registry.*.
      '-Dapicurio.rules.global.compatibility=BACKWARD',
      '-Dregistry.rules.global.compatibility=BACKWARD',
      '-jar', apicurioJar(apicurioDir(version)),
    ], { cwd: dir, dir, echo: opts.echo ?? false });
    await waitReady('registry', s, dir, opts.readyTimeoutMs ?? registryReadyTimeoutMs, javaStopGraceMs, async () => {
      const r = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2_000) });
      return r.status === 200;
    });
    return makeHandle('registry', s, port, dir, Date.now() - started, javaStopGraceMs, { url, version });
  },
};

// ---------------------------------------------------------------------------------------
// OpenLDAP

export const ldapBaseDn = 'dc=example,dc=org';
export const ldapRootDn = `cn=admin,${ldapBaseDn}`;

/** Users in the default seed; `aliases` are mailLocalAddress values. */
export const ldapDefaultUsers = [
  { uid: 'alice', password: 'alice-pw', mail: 'alice@example.org', aliases: ['a.liddell@example.org', 'postmaster@example.org'] },
  { uid: 'bob', password: 'bob-pw', mail: 'bob@example.org', aliases: ['robert@example.org'] },
  { uid: 'carol', password: 'carol-pw', mail: 'carol@example.org', aliases: [] as string[] },
] as const;

export const ldapUserDn = (uid: string) => `uid=${uid},ou=people,${ldapBaseDn}`;

// Always loaded first, so a caller's seed only holds its own people and groups.
const ldapBaseLdif = `dn: ${ldapBaseDn}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,${ldapBaseDn}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${ldapBaseDn}
objectClass: organizationalUnit
ou: groups
`;

function ldapDefaultSeed(): string {
  const people = ldapDefaultUsers.map((u) => [
    `dn: ${ldapUserDn(u.uid)}`,
    'objectClass: inetOrgPerson',
    'objectClass: inetLocalMailRecipient',
    `uid: ${u.uid}`,
    `cn: ${u.uid[0]!.toUpperCase()}${u.uid.slice(1)}`,
    `sn: ${u.uid}`,
    `mail: ${u.mail}`,
    ...u.aliases.map((a) => `mailLocalAddress: ${a}`),
    `userPassword: ${u.password}`,
    '',
  ].join('\n'));
  const group = [
    `dn: cn=staff,ou=groups,${ldapBaseDn}`,
    'objectClass: groupOfNames',
    'cn: staff',
    ...ldapDefaultUsers.map((u) => `member: ${ldapUserDn(u.uid)}`),
    '',
  ].join('\n');
  return [...people, group].join('\n');
}

function slapdConf(dir: string, rootPassword: string, extraSchema: boolean): string {
  return `# Throwaway slapd for tests: written by scripts/services/services.ts
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
# misc: inetLocalMailRecipient / mailLocalAddress, used for mail aliases.
include /etc/ldap/schema/misc.schema
${extraSchema ? `# the test's own schema (OpenldapOptions.schema)\ninclude ${join(dir, 'extra.schema')}\n` : ''}modulepath /usr/lib/ldap
moduleload back_mdb
pidfile ${join(dir, 'slapd.pid')}
argsfile ${join(dir, 'slapd.args')}

# Users may bind with their password (auth) and change it (=w), but nobody but the
# rootdn reads it back.
access to attrs=userPassword
  by self =w
  by anonymous auth
  by * none
access to *
  by * read

database mdb
maxsize 67108864
suffix "${ldapBaseDn}"
rootdn "${ldapRootDn}"
rootpw ${rootPassword}
directory ${join(dir, 'db')}
index objectClass eq
index uid,mail,mailLocalAddress eq
`;
}

export interface OpenldapOptions extends CommonOptions {
  port?: number;
  /** LDIF loaded after the base entries (suffix, ou=people, ou=groups); default: ldapDefaultUsers and cn=staff. */
  seedLdif?: string;
  rootPassword?: string;
  /** Extra schema (slapd.conf syntax: attributetype, objectclass) included after the stock ones, for attributes they lack. */
  schema?: string;
}
export interface OpenldapExtra {
  url: string;
  baseDn: string;
  rootDn: string;
  rootPassword: string;
}
export type OpenldapHandle = ServiceHandle & OpenldapExtra;

export const openldap = {
  ensureInstalled(): void {
    aptInstall('openldap', ['slapd', 'ldap-utils'], ['slapd slapd/no_configuration boolean true']);
  },

  async start(opts: OpenldapOptions = {}): Promise<OpenldapHandle> {
    openldap.ensureInstalled();
    const port = await claimPort('openldap', opts.port);
    const rootPassword = opts.rootPassword ?? 'admin-pw';
    if (/\s/.test(rootPassword) || rootPassword === '') throw new ServiceError('openldap', 'options', 'rootPassword must be non-empty without spaces');
    const dir = makeTempDir('openldap');
    const conf = join(dir, 'slapd.conf');
    try {
      mkdirSync(join(dir, 'db'));
      if (opts.schema !== undefined) writeFileSync(join(dir, 'extra.schema'), opts.schema);
      writeFileSync(conf, slapdConf(dir, rootPassword, opts.schema !== undefined));
      writeFileSync(join(dir, 'seed.ldif'), `${ldapBaseLdif}\n${opts.seedLdif ?? ldapDefaultSeed()}`);
      run('openldap', 'slapadd seed', 'slapadd', ['-f', conf, '-l', join(dir, 'seed.ldif')], { cwd: dir });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const url = `ldap://127.0.0.1:${port}/`;
    const started = Date.now();
    const s = spawnService('openldap', 'slapd', ['-f', conf, '-h', url, '-d', '0'], { cwd: dir, dir, echo: opts.echo ?? false });
    await waitReady('openldap', s, dir, opts.readyTimeoutMs ?? openldapReadyTimeoutMs, nativeStopGraceMs, async () => {
      if (!(await portAccepts(port))) return false;
      const r = run('openldap', 'ldapsearch probe', 'ldapsearch', [
        '-x', '-LLL', '-H', url, '-D', ldapRootDn, '-w', rootPassword, '-b', ldapBaseDn, '-s', 'base', 'dn',
      ], { allowFail: true, timeoutMs: 5_000 });
      return r.status === 0;
    });
    return makeHandle('openldap', s, port, dir, Date.now() - started, nativeStopGraceMs, {
      url, baseDn: ldapBaseDn, rootDn: ldapRootDn, rootPassword,
    });
  },
};

// ---------------------------------------------------------------------------------------
// Dovecot

export interface DovecotUser {
  /** Login name, e.g. alice@example.org; also the LMTP recipient. */
  name: string;
  password: string;
}

export interface DovecotOptions extends CommonOptions {
  imapPort?: number;
  pop3Port?: number;
  lmtpPort?: number;
  users: DovecotUser[];
  /** Default maildir. */
  mailFormat?: 'maildir' | 'mdbox';
  /**
   * PEM certificate and key: also listen with TLS from the first byte (imapsPort, pop3sPort),
   * so a benchmark can run both servers the same way (Quire allows no login before TLS).
   */
  tls?: { cert: string; key: string };
  /**
   * How the passwd-file stores passwords: PLAIN (default) or ARGON2ID (64 MiB, 3 passes:
   * about what Quire's scrypt costs per login, for benchmarks that log in under load). Hashed
   * once per distinct password with `doveadm pw` (a second or two each).
   */
  passwordScheme?: 'PLAIN' | 'ARGON2ID';
}
export interface DovecotExtra {
  imapPort: number;
  pop3Port: number;
  lmtpPort: number;
  /** IMAP and POP3 with TLS from the first byte; 0 unless started with `tls`. */
  imapsPort: number;
  pop3sPort: number;
  /** Folder holding one home per user (owned by the unprivileged mail user). */
  mailDir: string;
}
export type DovecotHandle = ServiceHandle & DovecotExtra;

function userIds(name: string): { uid: number; gid: number } | undefined {
  const r = run('dovecot', 'id lookup', 'id', ['-u', name], { allowFail: true });
  const g = run('dovecot', 'id lookup', 'id', ['-g', name], { allowFail: true });
  if (r.status !== 0 || g.status !== 0) return undefined;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

function dovecotConf(dir: string, o: { imapPort: number; pop3Port: number; lmtpPort: number; imapsPort: number; pop3sPort: number; tls: boolean; uid: number; gid: number; mailFormat: string }): string {
  const location = o.mailFormat === 'mdbox' ? 'mdbox:~/mdbox' : 'maildir:~/Maildir';
  const tlsListener = (port: number) => (o.tls ? `address = 127.0.0.1\n    port = ${port}` : 'port = 0');
  const ssl = o.tls ? `ssl = yes\nssl_cert = <${join(dir, 'tls-cert.pem')}\nssl_key = <${join(dir, 'tls-key.pem')}` : 'ssl = no';
  return `# Throwaway Dovecot: written by scripts/services/services.ts. Nothing from /etc/dovecot.
protocols = imap pop3 lmtp
listen = 127.0.0.1
base_dir = ${join(dir, 'run')}
state_dir = ${join(dir, 'state')}
instance_name = quire-${o.imapPort}
log_path = /dev/stderr
# Plaintext on loopback for benchmarks only; Quire's side must then run the same way.
${ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = ${location}
mail_uid = ${o.uid}
mail_gid = ${o.gid}
first_valid_uid = ${o.uid}
last_valid_uid = ${o.uid}
postmaster_address = postmaster@example.org
# Benchmarks hold hundreds of sessions; the default of 100 processes per service (one IMAP or
# POP3 session each) would refuse the 101st.
default_process_limit = 2000
default_client_limit = 10000

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${join(dir, 'users')}
}
userdb {
  driver = static
  args = uid=${o.uid} gid=${o.gid} home=${join(dir, 'mail')}/%u
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${o.imapPort}
  }
  inet_listener imaps {
    ${tlsListener(o.imapsPort)}
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${o.pop3Port}
  }
  inet_listener pop3s {
    ${tlsListener(o.pop3sPort)}
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${o.lmtpPort}
  }
}
`;
}

export const dovecot = {
  ensureInstalled(): void {
    const wasInstalled = commandExists('dovecot');
    aptInstall('dovecot', ['dovecot-imapd', 'dovecot-pop3d', 'dovecot-lmtpd']);
    if (userIds(dovecotMailUser) === undefined) {
      if (!isRoot()) throw new ServiceError('dovecot', 'mail user', `user ${dovecotMailUser} is missing and creating it needs root`);
      run('dovecot', 'useradd', 'useradd', [
        '--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', dovecotMailUser,
      ]);
    }
    // policy-rc.d keeps the packaged daemon down; if one came up with our install anyway,
    // it is ours to stop, or it would hold 143/110 on every interface.
    const systemPid = '/run/dovecot/master.pid';
    if (!wasInstalled && existsSync(systemPid)) {
      run('dovecot', 'stop system instance', 'dovecot', ['-c', '/etc/dovecot/dovecot.conf', 'stop'], { allowFail: true });
    }
  },

  async start(opts: DovecotOptions): Promise<DovecotHandle> {
    dovecot.ensureInstalled();
    if (!isRoot()) throw new ServiceError('dovecot', 'options', 'the throwaway Dovecot is started as root (it drops to its own users)');
    for (const u of opts.users) {
      if (!/^[^\s:]+$/.test(u.name) || !/^[^\s:]+$/.test(u.password)) {
        throw new ServiceError('dovecot', 'options', `user name and password must be free of spaces and colons: ${u.name}`);
      }
    }
    const ids = userIds(dovecotMailUser)!;
    const imapPort = await claimPort('dovecot', opts.imapPort);
    const pop3Port = await claimPort('dovecot', opts.pop3Port);
    const lmtpPort = await claimPort('dovecot', opts.lmtpPort);
    const imapsPort = opts.tls === undefined ? 0 : await claimPort('dovecot', undefined);
    const pop3sPort = opts.tls === undefined ? 0 : await claimPort('dovecot', undefined);
    const dir = makeTempDir('dovecot');
    const conf = join(dir, 'dovecot.conf');
    const mailDir = join(dir, 'mail');
    try {
      // mkdtemp makes 0700; the mail processes run as the mail user and must reach their homes.
      chmodSync(dir, 0o755);
      for (const sub of ['run', 'state', 'mail']) mkdirSync(join(dir, sub));
      chownSync(mailDir, ids.uid, ids.gid);
      // Read by the auth process, which runs as Dovecot's own internal user, not root.
      const usersFile = join(dir, 'users');
      const stored = new Map<string, string>();
      for (const u of opts.users) {
        if (stored.has(u.password)) continue;
        if (opts.passwordScheme !== 'ARGON2ID') stored.set(u.password, `{PLAIN}${u.password}`);
        else {
          // A config of its own: doveadm would otherwise read the system's /etc/dovecot.
          const minimal = join(dir, 'doveadm.conf');
          writeFileSync(minimal, 'ssl = no\n');
          stored.set(u.password, run('dovecot', 'password hash', 'doveadm', ['-c', minimal, 'pw', '-s', 'ARGON2ID', '-p', u.password]).stdout.trim());
        }
      }
      writeFileSync(usersFile, opts.users.map((u) => `${u.name}:${stored.get(u.password)}::::::\n`).join(''), { mode: 0o600 });
      const internal = userIds('dovecot');
      if (internal === undefined) throw new ServiceError('dovecot', 'config', "Dovecot's internal user 'dovecot' is missing");
      chownSync(usersFile, internal.uid, internal.gid);
      if (opts.tls !== undefined) {
        writeFileSync(join(dir, 'tls-cert.pem'), opts.tls.cert);
        writeFileSync(join(dir, 'tls-key.pem'), opts.tls.key, { mode: 0o600 });
      }
      const tls = opts.tls !== undefined;
      writeFileSync(conf, dovecotConf(dir, { imapPort, pop3Port, lmtpPort, imapsPort, pop3sPort, tls, ...ids, mailFormat: opts.mailFormat ?? 'maildir' }));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const started = Date.now();
    const s = spawnService('dovecot', 'dovecot', ['-F', '-c', conf], { cwd: dir, dir, echo: opts.echo ?? false });
    await waitReady('dovecot', s, dir, opts.readyTimeoutMs ?? dovecotReadyTimeoutMs, nativeStopGraceMs, async () =>
      (await portAccepts(imapPort)) && (await portAccepts(pop3Port)) && (await portAccepts(lmtpPort)) &&
      (opts.tls === undefined || ((await portAccepts(imapsPort)) && (await portAccepts(pop3sPort)))));
    return makeHandle('dovecot', s, imapPort, dir, Date.now() - started, nativeStopGraceMs, { imapPort, pop3Port, lmtpPort, imapsPort, pop3sPort, mailDir });
  },
};

// ---------------------------------------------------------------------------------------
// CLI

const serviceNames = ['kafka', 'registry', 'openldap', 'dovecot'] as const;
type ServiceName = (typeof serviceNames)[number];

function install(name: ServiceName): void {
  const started = Date.now();
  if (name === 'kafka') kafka.ensureInstalled();
  else if (name === 'registry') schemaRegistry.ensureInstalled();
  else if (name === 'openldap') openldap.ensureInstalled();
  else dovecot.ensureInstalled();
  console.log(`${name}: installed (${Date.now() - started} ms)`);
}

async function startForeground(name: ServiceName, port: number | undefined): Promise<void> {
  let handle: ServiceHandle;
  let info: Record<string, unknown>;
  if (name === 'kafka') {
    const h = await kafka.start({ port, echo: true });
    handle = h;
    info = { bootstrap: h.bootstrap, controllerPort: h.controllerPort };
  } else if (name === 'registry') {
    const h = await schemaRegistry.start({ port, echo: true });
    handle = h;
    info = { url: h.url, version: h.version };
  } else if (name === 'openldap') {
    const h = await openldap.start({ port, echo: true });
    handle = h;
    info = { url: h.url, baseDn: h.baseDn, rootDn: h.rootDn, rootPassword: h.rootPassword, users: ldapDefaultUsers };
  } else {
    const users = [{ name: 'alice@example.org', password: 'alice-pw' }, { name: 'bob@example.org', password: 'bob-pw' }];
    const h = await dovecot.start({ imapPort: port, users, echo: true });
    handle = h;
    info = { imapPort: h.imapPort, pop3Port: h.pop3Port, lmtpPort: h.lmtpPort, users };
  }
  console.log(JSON.stringify({ service: name, pid: handle.pid, port: handle.port, dir: handle.dir, readyMs: handle.readyMs, ...info }, null, 2));
  console.log('running; Ctrl-C stops it');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await handle.stop();
  console.log(`${name}: stopped`);
}

const usage = `usage: node dist/scripts/services/services.js start kafka|registry|openldap|dovecot [--port N]
       node dist/scripts/services/services.js install all|kafka|registry|openldap|dovecot`;

async function main(argv: string[]): Promise<number> {
  const [verb, what, ...rest] = argv;
  let port: number | undefined;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--port' && rest[i + 1] !== undefined) port = Number(rest[++i]);
    else {
      console.error(`unknown argument ${rest[i]}\n${usage}`);
      return 2;
    }
  }
  const known = (w: string | undefined): w is ServiceName => serviceNames.includes(w as ServiceName);
  if (verb === 'install' && (what === 'all' || known(what))) {
    for (const name of what === 'all' ? serviceNames : [what]) install(name);
    return 0;
  }
  if (verb === 'start' && known(what)) {
    await startForeground(what, port);
    return 0;
  }
  console.error(usage);
  return 2;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
