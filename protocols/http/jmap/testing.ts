// Test helpers for JMAP over a real test server: a raw-HTTP client (Basic login over TLS).

import assert from 'node:assert/strict';
import type { TestServer } from '../../../test/harness.js';
import { httpsCall } from '../testing.js';

export type Call = [string, Record<string, any>, string];

/** A raw-HTTP JMAP client for tests: Basic login, API calls with `using`, upload, download. */
export function jmapClient(quire: TestServer, address: string, password: string, using: readonly string[]) {
  const port = quire.port('https');
  const authorization = `Basic ${Buffer.from(`${address}:${password}`).toString('base64')}`;
  return {
    authorization,
    async raw(body: string, contentType = 'application/json') {
      return httpsCall(port, quire.cert, 'POST', '/jmap/api', { headers: { authorization, 'content-type': contentType }, body });
    },
    async calls(methodCalls: Call[], extra: Record<string, unknown> = {}): Promise<Call[]> {
      const answer = await httpsCall(port, quire.cert, 'POST', '/jmap/api', { headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ using, methodCalls, ...extra }) });
      assert.equal(answer.status, 200, answer.text());
      return answer.json().methodResponses as Call[];
    },
    async one(name: string, args: Record<string, any>): Promise<Record<string, any>> {
      const [response] = await this.calls([[name, args, 'c']]);
      assert.equal(response![0], name, JSON.stringify(response));
      return response![1];
    },
    async upload(accountId: string, body: string | Uint8Array, type: string) {
      const answer = await httpsCall(port, quire.cert, 'POST', `/jmap/upload/${accountId}/`, { headers: { authorization, 'content-type': type }, body });
      assert.equal(answer.status, 201, answer.text());
      return answer.json() as { blobId: string; size: number; type: string };
    },
    async get(path: string) {
      return httpsCall(port, quire.cert, 'GET', path, { headers: { authorization } });
    },
  };
}

