// One delivery attempt to a remote domain: find where its mail goes (the configured smarthost,
// or the domain's MX hosts by preference, or the domain itself when it has no MX: RFC 5321
// sec. 5.1), hand the message over with nodemailer's SMTP client, and sort each recipient into
// delivered, failed for good (5xx, a domain that does not exist) or to try again (4xx, no
// server reachable).

import { promises as dns } from 'node:dns';
import nodemailer from 'nodemailer';
import { outboundTimeoutMs } from './constants.js';

export interface MxRecord {
  readonly exchange: string;
  readonly priority: number;
}

/** Where MX lookups go; tests pass their own. */
export interface MxResolver {
  resolveMx(domain: string): Promise<MxRecord[]>;
}

export const systemResolver: MxResolver = { resolveMx: (domain) => dns.resolveMx(domain) };

export interface Smarthost {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (465); otherwise STARTTLS when offered. */
  readonly secure?: boolean;
  readonly auth?: { readonly user: string; readonly pass: string };
}

export interface RelayOptions {
  /** Our name in EHLO. */
  readonly hostname: string;
  readonly smarthost: Smarthost | null;
  readonly resolver: MxResolver;
  /** Port of MX hosts (25; tests point it elsewhere). */
  readonly mxPort: number;
  /** Verify remote certificates (off by default: opportunistic TLS, as most MTAs do towards MX hosts). */
  readonly verifyTls?: boolean;
  readonly timeoutMs?: number;
}

export interface RecipientOutcome {
  readonly address: string;
  readonly outcome: 'delivered' | 'failed' | 'retry';
  /** Enhanced status code. */
  readonly status: string;
  readonly diagnostic: string;
  readonly remoteMta: string | null;
  /** Delivered to a server that offered DSN, with the sender's parameters passed on (it reports from now on). */
  readonly dsnPassed?: boolean;
}

/** RFC 3461 parameters passed on to the next hop when it offers DSN (recipients of one relay call share NOTIFY and ORCPT). */
export interface RelayDsn {
  readonly ret: 'FULL' | 'HDRS' | null;
  readonly envid: string | null;
  readonly notify: readonly string[] | null;
  readonly orcpt: string | null;
}

type SendError = Error & { responseCode?: number; response?: string; code?: string; rejected?: string[]; rejectedErrors?: SendError[] };

function enhancedOf(response: string | undefined, code: number): string {
  const match = response === undefined ? null : /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})/.exec(response);
  return match?.[1] ?? (code >= 500 ? '5.0.0' : '4.0.0');
}

function byRecipient(errors: SendError[] | undefined): Map<string, SendError> {
  const map = new Map<string, SendError>();
  for (const error of errors ?? []) {
    const address = (error as SendError & { recipient?: string }).recipient;
    if (address !== undefined) map.set(address.toLowerCase(), error);
  }
  return map;
}

function outcomeOf(address: string, error: SendError, host: string): RecipientOutcome {
  const code = error.responseCode ?? 450;
  return { address, outcome: code >= 500 ? 'failed' : 'retry', status: enhancedOf(error.response, code), diagnostic: error.response ?? error.message, remoteMta: host };
}

async function routes(domain: string, options: RelayOptions): Promise<{ hosts: Array<{ host: string; port: number }> } | { fail: 'permanent' | 'temporary'; reason: string }> {
  if (options.smarthost !== null) return { hosts: [{ host: options.smarthost.host, port: options.smarthost.port }] };
  try {
    const records = await options.resolver.resolveMx(domain);
    if (records.length === 1 && records[0]!.exchange === '') return { fail: 'permanent', reason: `${domain} accepts no mail (null MX, RFC 7505)` };
    const sorted = [...records].sort((a, b) => a.priority - b.priority);
    return { hosts: (sorted.length > 0 ? sorted.map((r) => r.exchange) : [domain]).map((host) => ({ host, port: options.mxPort })) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND') return { fail: 'permanent', reason: `domain ${domain} does not exist` };
    if (code === 'ENODATA') return { hosts: [{ host: domain, port: options.mxPort }] };
    return { fail: 'temporary', reason: `MX lookup for ${domain} failed: ${code ?? (error as Error).message}` };
  }
}

/** Tries to deliver `content` to `recipients` (all of one domain, or all via the smarthost). */
export async function relay(mailFrom: string, recipients: readonly string[], content: Uint8Array, domain: string, options: RelayOptions, dsn?: RelayDsn): Promise<RecipientOutcome[]> {
  const route = await routes(domain, options);
  if ('fail' in route) {
    return recipients.map((address) => ({ address, outcome: route.fail === 'permanent' ? 'failed' : 'retry', status: route.fail === 'permanent' ? '5.1.2' : '4.4.3', diagnostic: route.reason, remoteMta: null }));
  }
  let lastProblem = 'no mail server could be reached';
  for (const { host, port } of route.hosts) {
    const smarthost = options.smarthost;
    const transport = nodemailer.createTransport({
      host,
      port,
      secure: smarthost?.secure ?? false,
      name: options.hostname,
      connectionTimeout: options.timeoutMs ?? outboundTimeoutMs,
      greetingTimeout: options.timeoutMs ?? outboundTimeoutMs,
      socketTimeout: options.timeoutMs ?? outboundTimeoutMs,
      tls: { rejectUnauthorized: options.verifyTls ?? false },
      ...(smarthost?.auth === undefined ? {} : { auth: { user: smarthost.auth.user, pass: smarthost.auth.pass } }),
    });
    try {
      const given = dsn === undefined ? null : Object.fromEntries(Object.entries({ ret: dsn.ret, envid: dsn.envid, notify: dsn.notify === null ? null : [...dsn.notify], orcpt: dsn.orcpt }).filter(([, v]) => v !== null));
      const info = await transport.sendMail({ envelope: { from: mailFrom, to: [...recipients] }, raw: Buffer.from(content), ...(given === null || Object.keys(given).length === 0 ? {} : { dsn: given as never }) });
      const dsnPassed = given !== null && Object.keys(given).length > 0 && ((info as unknown as { ehlo?: string[] }).ehlo ?? []).some((line) => /^DSN\b/i.test(line));
      const rejected = byRecipient((info as unknown as { rejectedErrors?: SendError[] }).rejectedErrors);
      const refused = new Set((info.rejected as string[]).map((a) => a.toLowerCase()));
      return recipients.map((address): RecipientOutcome => {
        const key = address.toLowerCase();
        if (!refused.has(key)) return { address, outcome: 'delivered', status: '2.0.0', diagnostic: info.response, remoteMta: host, ...(dsnPassed ? { dsnPassed } : {}) };
        return outcomeOf(address, rejected.get(key) ?? { name: 'Error', message: 'recipient refused', responseCode: 450 }, host);
      });
    } catch (thrown) {
      const error = thrown as SendError;
      if (error.responseCode === undefined) {
        // No SMTP answer (refused, timed out, TLS failed): try the next host.
        lastProblem = `${host}:${port}: ${error.code ?? ''} ${error.message}`.trim();
        continue;
      }
      const perRecipient = byRecipient(error.rejectedErrors);
      return recipients.map((address) => outcomeOf(address, perRecipient.get(address.toLowerCase()) ?? error, host));
    } finally {
      transport.close();
    }
  }
  return recipients.map((address) => ({ address, outcome: 'retry', status: '4.4.1', diagnostic: lastProblem, remoteMta: null }));
}
