// docker-compose.yml cannot be run here (no Docker engine), so it is checked by reading: each
// Quire server's command must parse with the real CLI (an unknown flag fails), point at the
// Kafka, registry and LDAP services the file defines, publish exactly the ports its
// --port-offset gives, and the three servers must form one group (distinct names and offsets,
// one server starting with the active copies, the others passive).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basePorts } from '../server/server.js';

const root = new URL('../../', import.meta.url);
const bin = fileURLToPath(new URL('bin/quire.js', root));

test('docker-compose.yml: three Quire servers with Kafka (KRaft), the registry and OpenLDAP, with flags the CLI really has', () => {
  const text = readFileSync(new URL('docker-compose.yml', root), 'utf8');
  const blocks = text.split(/\n(?=  [a-z0-9-]+:\n)/);
  const service = (name: string): string => {
    const block = blocks.find((b) => b.startsWith(`  ${name}:\n`));
    assert.ok(block !== undefined, `service ${name} is defined`);
    return block;
  };
  assert.match(service('kafka'), /KAFKA_PROCESS_ROLES: "broker,controller"/, 'Kafka runs in KRaft mode');
  assert.match(service('kafka'), /KAFKA_ADVERTISED_LISTENERS: "PLAINTEXT:\/\/kafka:9092"/);
  assert.match(service('registry'), /QUARKUS_HTTP_PORT: "8080"/);
  assert.match(service('ldap'), /LDAP_BASE_DN: "dc=example,dc=org"/);

  const servers = ['mbx1', 'mbx2', 'mbx3'].map((name) => {
    const block = service(name);
    const command = /command: (\[[\s\S]*?\])/.exec(block);
    assert.ok(command !== null, `${name} has a command`);
    const args = JSON.parse(command[1]!) as string[];
    const value = (flag: string): string | undefined => {
      const i = args.indexOf(flag);
      return i < 0 ? undefined : args[i + 1];
    };
    // The real parser: an unknown flag or a flag without its value exits 2 before --help is honoured.
    const parsed = spawnSync(process.execPath, [bin, ...args, '--help'], { encoding: 'utf8' });
    assert.equal(parsed.status, 0, `${name}: quire ${args.join(' ')}: ${parsed.stderr}`);
    assert.equal(args[0], 'start');
    assert.equal(value('--kafka'), 'kafka:9092', name);
    assert.equal(value('--registry'), 'http://registry:8080/apis/ccompat/v7', name);
    assert.equal(value('--ldap-url'), 'ldap://ldap:389', name);
    assert.equal(value('--ldap-base-dn'), 'dc=example,dc=org', name);
    assert.equal(value('--durability'), 'sync', name);
    const offset = Number(value('--port-offset'));
    const published = [...block.matchAll(/"127\.0\.0\.1:(\d+):(\d+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    assert.deepEqual(
      published.map(([host]) => host).sort((a, b) => a! - b!),
      Object.values(basePorts).map((port) => port + offset).sort((a, b) => a - b),
      `${name} publishes exactly its ports (offset ${offset})`,
    );
    assert.ok(published.every(([host, inside]) => host === inside));
    assert.match(block, new RegExp(`http://127\\.0\\.0\\.1:${basePorts.http + offset}/healthz`), `${name} health check on its HTTP port`);
    return { name: value('--server'), offset, passive: value('--passive') };
  });
  assert.equal(new Set(servers.map((s) => s.name)).size, 3, 'distinct server names');
  assert.equal(new Set(servers.map((s) => s.offset)).size, 3, 'distinct port offsets');
  assert.deepEqual(servers.map((s) => s.passive), [undefined, 'DB01,DB02', 'DB01,DB02'], 'MBX1 starts with the active copies, the others passive');
});
