// A real Quire server for tests: `quire start` in this process on a fresh temporary data
// directory, every port chosen by the OS (tests run in parallel), JSON logs silenced. Real
// worker processes, real RocksDB, real sockets: tests of a front end talk to it as a client
// would.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import type { ServiceName } from '../protocols/frontend.js';
import { type RunningServer, startServer } from '../server/server.js';
import { addUser } from '../server/users.js';
import { databasesDefault } from '../server/paths.js';

export interface TestServer {
  readonly server: RunningServer;
  readonly dataDir: string;
  /** The port of a service; throws if the server does not serve it. */
  port(service: ServiceName): number;
  /** The demo mailbox first start created. */
  readonly demo: { readonly address: string; readonly password: string };
  /** The server's self-signed certificate, for clients that verify it. */
  readonly cert: string;
  /** Adds a user through the same path `quire user add` takes. */
  addUser(address: string, password: string, options?: { database?: string; quotaBytes?: number | null }): Promise<void>;
  /** Everything the server printed with `say` (endpoints, first-start lines). */
  readonly printed: readonly string[];
  stop(): Promise<void>;
}

export interface TestServerOptions {
  readonly domain?: string;
  readonly server?: string;
  readonly keepData?: boolean;
  /** Capture the JSON log (at `logLevel`, default 'info') instead of silencing it. */
  readonly logDestination?: DestinationStream;
  readonly logLevel?: string;
  /** Written as <data>/transport.json before the start (server/delivery/index.ts: smarthost, retries...). */
  readonly transport?: Readonly<Record<string, unknown>>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-test-'));
  if (options.transport !== undefined) writeFileSync(join(dataDir, 'transport.json'), JSON.stringify(options.transport));
  const printed: string[] = [];
  const domain = options.domain ?? 'example.org';
  const server = await startServer({
    dataDir,
    server: options.server ?? 'MBX1',
    domain,
    listen: '127.0.0.1',
    portOffset: 0,
    ports: 'ephemeral',
    logLevel: options.logLevel ?? (options.logDestination === undefined ? 'silent' : 'info'),
    ...(options.logDestination === undefined ? {} : { logDestination: options.logDestination }),
    say: (line) => printed.push(line),
  });
  const demoLine = printed.find((line) => line.includes('demo mailbox:'));
  const password = demoLine?.match(/password: (\S+)/)?.[1];
  if (password === undefined) throw new Error(`no demo password printed:\n${printed.join('\n')}`);
  const databases = [...databasesDefault];
  return {
    server,
    dataDir,
    port(service) {
      const port = server.ports[service];
      if (port === undefined) throw new Error(`the server does not serve ${service}`);
      return port;
    },
    demo: { address: `demo@${domain}`, password },
    cert: server.tlsCert,
    async addUser(address, userPassword, extra = {}) {
      const added = await addUser(server.directory, databases, (database) => server.supervisor.api(database), {
        address,
        password: userPassword,
        database: extra.database ?? databases[0]!,
        ...(extra.quotaBytes === undefined ? {} : { quotaBytes: extra.quotaBytes }),
      });
      if (!added.ok) throw new Error(`adding ${address}: ${added.message}`);
    },
    printed,
    async stop() {
      await server.stop();
      if (options.keepData !== true) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
