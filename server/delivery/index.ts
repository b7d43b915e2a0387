// The mail flow as the server runs it: the SMTP/LMTP front end (protocols/smtp) over the
// durable transport stores of the data directory: the safety net (pruned on a timer) and the
// outbound queue (delivered through a smarthost or by MX lookup, bouncing with a DSN).
//
// Settings come from <data>/transport.json when it exists (all optional):
//   { "smarthost": "host:port" | { "host", "port", "secure", "auth": { "user", "pass" } },
//     "mxPort": 25, "safetyNetRetentionMs": 172800000, "retryMsBase": 60000,
//     "retryMsMax": 3600000, "giveUpMs": 172800000, "delayWarningMs": 14400000, "verifyTls": false,
//     "checkInbound": true, "dkimSign": true }
// and options passed by a caller (tests) override them.

import { systemPrng } from '../../engine/io.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrontEnd, FrontEndContext, ListenPlan, MailSubmission } from '../../protocols/frontend.js';
import { submitter } from '../../protocols/smtp/submit.js';
import { vacationResponder } from '../../protocols/vacation.js';
import { ok, smtpAnswer } from '../../engine/errors.js';
import { type DeliveryTarget, deliverLocal } from '../../protocols/smtp/deliver.js';
import { type FailedRecipient, reportFor } from '../../protocols/smtp/dsn.js';
import { startSmtp, type SmtpFrontEndOptions } from '../../protocols/smtp/server.js';
import type { MailServices, OutboundMessage } from '../../protocols/smtp/types.js';
import { safetyNetPruneIntervalMs } from './constants.js';
import { FileOutboundQueue, outboundQueueDir, type QueueEntryView } from './queue.js';
import { type MxResolver, type RecipientOutcome, type Smarthost, systemResolver } from './relay.js';
import { FileSafetyNet, safetyNetDir } from './safety-net.js';
import { type DNSResolver, checkInbound, dkimDir, ensureDkimKey, signMessage } from './mailauth.js';

export interface TransportSettings {
  readonly smarthost?: Smarthost | null;
  readonly mxPort?: number;
  readonly safetyNetRetentionMs?: number;
  readonly retryMsBase?: number;
  readonly retryMsMax?: number;
  readonly giveUpMs?: number;
  /** One delay report (NOTIFY=DELAY) for a message still retried after this long (default 4 h). */
  readonly delayWarningMs?: number;
  readonly verifyTls?: boolean;
  /** SPF/DKIM/DMARC checks with an Authentication-Results header on the MX port (default true). */
  readonly checkInbound?: boolean;
  /** DKIM-sign outbound mail of the accepted domains (default true). */
  readonly dkimSign?: boolean;
}

export interface MailFlowOptions extends SmtpFrontEndOptions, TransportSettings {
  readonly nowMs?: () => number;
  readonly resolver?: MxResolver;
  /** DNS for SPF, DKIM and DMARC (mailauth's resolver shape); the system's by default. */
  readonly dnsResolver?: DNSResolver;
}

/** What the admin API does with the running server's outbound queue (`quire queue`). */
export interface QueueAdmin {
  list(): QueueEntryView[];
  /** Makes one message (or all) due now; answers how many. */
  flush(id?: string): number;
  /** Removes a message, with a DSN to its sender for the recipients left when `bounce`; false: no such message. */
  remove(id: string, bounce: boolean): Promise<boolean>;
}

/** The mail flow front end, with its outbound queue for the admin API and its submission for the other front ends (FrontEndContext.mailSubmission). */
export interface MailFlow extends FrontEnd {
  readonly queue: QueueAdmin;
  readonly submission: MailSubmission;
}

export const transportSettingsFile = (dataDir: string): string => join(dataDir, 'transport.json');

/** <data>/transport.json, or {} when there is none; a smarthost may be written "host:port". */
export function readTransportSettings(dataDir: string): TransportSettings {
  let text: string;
  try {
    text = readFileSync(transportSettingsFile(dataDir), 'utf8');
  } catch {
    return {};
  }
  const raw = JSON.parse(text) as TransportSettings & { smarthost?: Smarthost | string | null };
  if (typeof raw.smarthost === 'string') {
    const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(raw.smarthost);
    if (match === null) throw new Error(`transport.json: smarthost "${raw.smarthost}" is not host:port`);
    return { ...raw, smarthost: { host: match[1]!, port: Number(match[2] ?? 25) } };
  }
  return raw as TransportSettings;
}

const ids = systemPrng();

/**
 * A transaction id: 12 URL-safe characters (from the pooled system generator: one call per 4 KiB,
 * not per message), never starting with `-`: operators pass queue ids to `quire queue` as
 * arguments, where `--x7zq...` read as an option.
 */
export function newTransactionId(): string {
  for (;;) {
    const id = Buffer.from(ids.bytes(9)).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

export async function startMailFlow(context: FrontEndContext, plan: ListenPlan, host: { readonly dataDir: string }, options: MailFlowOptions = {}): Promise<MailFlow> {
  const settings: MailFlowOptions = { ...readTransportSettings(host.dataDir), ...options };
  const nowMs = settings.nowMs ?? Date.now;
  const log = context.log.child({ component: 'transport' });
  const safetyNet = await FileSafetyNet.open({ dir: safetyNetDir(host.dataDir), nowMs, ...(settings.safetyNetRetentionMs === undefined ? {} : { retentionMs: settings.safetyNetRetentionMs }) });

  let queue: FileOutboundQueue | null = null;
  /**
   * Tells the sender about a finished message's recipients: a DSN (failures, and successes
   * asked for with NOTIFY=SUCCESS; nothing for NOTIFY=NEVER) into their mailbox when local,
   * else through the queue with the null sender.
   */
  const bounce = async (message: OutboundMessage, reported: readonly FailedRecipient[]): Promise<void> => {
    const failedCount = reported.filter((f) => (f.action ?? 'failed') === 'failed').length;
    if (failedCount > 0) context.metrics.delivery('bounced', failedCount);
    const id = newTransactionId();
    const timeMs = nowMs();
    const dsn = reportFor(message, reported, { hostname: context.hostname, id, nowMs: timeMs });
    if (dsn === null) {
      if (message.mailFrom === '' && failedCount > 0) log.warn({ id: message.id, failed: failedCount }, 'a bounce could not be delivered; dropped (no bounce of a bounce)');
      return;
    }
    const accepted = await context.isAcceptedDomain(domainOf(message.mailFrom));
    if (!accepted.ok) throw new Error(accepted.message);
    if (!accepted.value) {
      await queue!.enqueue({ id, timeMs, mailFrom: '', recipients: [message.mailFrom], content: dsn });
      return;
    }
    const resolved = await context.resolveRecipient(message.mailFrom);
    if (!resolved.ok) {
      if (resolved.code === 'NO_SUCH_USER') return log.warn({ id: message.id, to: message.mailFrom }, 'bounce for a sender who no longer exists; dropped');
      throw new Error(resolved.message);
    }
    const [result] = await deliverLocal(context, safetyNet, { id, timeMs, mailFrom: '', prefix: '', body: dsn }, [{ rcpt: message.mailFrom, accounts: resolved.value }]);
    if (!result!.ok) throw new Error(`${result!.code}: ${result!.message}`);
  };

  /** Redelivers the local recipients of a partly failed SMTP transaction (each address resolves to the mailbox that missed it). */
  const local = async (message: OutboundMessage, recipients: readonly string[]): Promise<RecipientOutcome[]> => {
    const outcomes: RecipientOutcome[] = [];
    const targets: DeliveryTarget[] = [];
    const addresses: string[] = [];
    for (const address of recipients) {
      const resolved = await context.resolveRecipient(address);
      if (!resolved.ok) {
        const answer = smtpAnswer(resolved);
        outcomes.push({ address, outcome: answer.code >= 500 ? 'failed' : 'retry', status: answer.enhanced, diagnostic: resolved.message, remoteMta: null });
        continue;
      }
      targets.push({ rcpt: message.local?.[address] ?? address, accounts: resolved.value });
      addresses.push(address);
    }
    if (targets.length > 0) {
      const results = await deliverLocal(context, safetyNet, { id: message.id, timeMs: nowMs(), mailFrom: message.mailFrom, prefix: '', body: message.content }, targets);
      results.forEach((result, i) => {
        const address = addresses[i]!;
        if (result.ok) {
          context.metrics.delivery('delivered', 1);
          outcomes.push({ address, outcome: 'delivered', status: '2.0.0', diagnostic: `delivered to the mailbox as ${message.id}`, remoteMta: null });
          return;
        }
        const answer = smtpAnswer(result);
        outcomes.push({ address, outcome: answer.code >= 500 ? 'failed' : 'retry', status: answer.enhanced, diagnostic: `${answer.code} ${answer.message}`, remoteMta: null });
      });
    }
    return outcomes;
  };

  try {
    queue = await FileOutboundQueue.open({
      dir: outboundQueueDir(host.dataDir),
      nowMs,
      log,
      bounce,
      local,
      relay: { hostname: context.hostname, smarthost: settings.smarthost ?? null, resolver: settings.resolver ?? systemResolver, mxPort: settings.mxPort ?? 25, ...(settings.verifyTls === undefined ? {} : { verifyTls: settings.verifyTls }) },
      ...(settings.retryMsBase === undefined ? {} : { retryMsBase: settings.retryMsBase }),
      ...(settings.retryMsMax === undefined ? {} : { retryMsMax: settings.retryMsMax }),
      ...(settings.giveUpMs === undefined ? {} : { giveUpMs: settings.giveUpMs }),
      ...(settings.delayWarningMs === undefined ? {} : { delayWarningMs: settings.delayWarningMs }),
    });
  } catch (error) {
    await safetyNet.close();
    throw error;
  }
  const dkim = settings.dkimSign === false ? null : ensureDkimKey(host.dataDir);
  const services: MailServices = {
    // The vacation auto-reply answers local deliveries, through this flow's own submission.
    delivered: vacationResponder(context, (submission) => submit(submission), nowMs),
    safetyNet,
    outbound: queue,
    nowMs,
    newId: newTransactionId,
    ...(settings.checkInbound === false
      ? {}
      : { authenticate: (message, facts) => checkInbound(message, facts, { mta: context.hostname, log, ...(settings.dnsResolver === undefined ? {} : { resolver: settings.dnsResolver }) }) }),
    ...(dkim === null
      ? {}
      : {
          async sign(message: Uint8Array, mailFrom: string): Promise<Uint8Array> {
            const domain = domainOf(mailFrom);
            const accepted = await context.isAcceptedDomain(domain);
            return accepted.ok && accepted.value ? signMessage(message, domain, dkim, log) : message;
          },
        }),
  };
  const submit = submitter(context, services);
  let smtp: FrontEnd;
  try {
    smtp = await startSmtp(context, plan, services, settings);
  } catch (error) {
    await queue.close();
    await safetyNet.close();
    throw error;
  }
  const pruning = setInterval(() => {
    safetyNet.prune().catch((error: Error) => log.warn({ error: error.message }, 'safety net prune failed'));
  }, safetyNetPruneIntervalMs);
  pruning.unref();
  const outbound = queue;
  return {
    submission: {
      submit,
      queued: (id) => outbound.status(id),
      cancel: async (id) => ok(await outbound.cancel(id)),
      onFinished: (listener) => outbound.onFinished(listener),
    },
    description: dkim === null ? smtp.description : `${smtp.description}; DKIM selector ${dkim.selector} (TXT record in ${dkimDir(host.dataDir)}/${dkim.selector}.txt)`,
    ports: smtp.ports,
    queue: {
      list: () => outbound.view(),
      flush: (id) => outbound.flush(id),
      remove: (id, withBounce) => outbound.remove(id, withBounce),
    },
    async close() {
      clearInterval(pruning);
      await smtp.close();
      await outbound.close();
      await safetyNet.close();
    },
  };
}
