// Test helpers for the HTTPS front end: one request over real TLS that trusts the test
// server's self-signed certificate, answering status, headers and body.

import { request as httpsRequest } from 'node:https';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  json<T = any>(): T;
  text(): string;
}

export function httpsCall(
  port: number,
  cert: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Uint8Array } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : typeof options.body === 'string' ? Buffer.from(options.body) : Buffer.from(options.body);
    const request = httpsRequest(
      { host: '127.0.0.1', port, method, path, ca: cert, servername: 'localhost', headers: { ...(body === undefined ? {} : { 'content-length': String(body.length) }), ...options.headers } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const all = Buffer.concat(chunks);
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: all, json: () => JSON.parse(all.toString('utf8')), text: () => all.toString('utf8') });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    if (body !== undefined) request.write(body);
    request.end();
  });
}

/** The admin API with the server's Bearer token. */
export function adminCall(port: number, cert: string, token: string, method: string, path: string, json?: unknown): Promise<HttpAnswer> {
  return httpsCall(port, cert, method, path, {
    headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
}
