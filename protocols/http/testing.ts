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

export interface CurlAnswer {
  readonly status: number;
  /** Header names lower-cased. */
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * curl, the real client, over HTTPS to 127.0.0.1 named "localhost", trusting the PEM in
 * `caFile`. Spawned asynchronously: the server under test usually runs in this process.
 */
export async function curlHttps(port: number, caFile: string, path: string, options: { user?: string; xml?: string; headers?: string[] } = {}): Promise<CurlAnswer> {
  const { spawn } = await import('node:child_process');
  const args = ['-sS', '-i', '--http1.1', '--cacert', caFile, '--resolve', `localhost:${port}:127.0.0.1`];
  if (options.user !== undefined) args.push('--user', options.user);
  for (const header of options.headers ?? []) args.push('-H', header);
  if (options.xml !== undefined) args.push('-H', 'Content-Type: text/xml', '--data-binary', '@-');
  const child = spawn('curl', [...args, `https://localhost:${port}${path}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(options.xml ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (status !== 0) throw new Error(`curl exited ${status}: ${stderr}`);
  const split = stdout.indexOf('\r\n\r\n');
  const head = stdout.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(head[0]!.split(' ')[1]), headers, body: stdout.slice(split + 4) };
}
