// The mail flow as the server runs it: the SMTP/LMTP front end (protocols/smtp) over the
// durable transport stores of the data directory: the safety net, pruned on a timer.

import { randomBytes } from 'node:crypto';
import type { FrontEnd, FrontEndContext, ListenPlan } from '../../protocols/frontend.js';
import { startSmtp, type SmtpFrontEndOptions } from '../../protocols/smtp/server.js';
import type { MailServices } from '../../protocols/smtp/types.js';
import { safetyNetPruneIntervalMs } from './constants.js';
import { FileSafetyNet, safetyNetDir } from './safety-net.js';

export interface MailFlowOptions extends SmtpFrontEndOptions {
  readonly nowMs?: () => number;
  readonly safetyNetRetentionMs?: number;
}

/** A transaction id: 12 URL-safe characters. */
export function newTransactionId(): string {
  return randomBytes(9).toString('base64url');
}

export async function startMailFlow(context: FrontEndContext, plan: ListenPlan, host: { readonly dataDir: string }, options: MailFlowOptions = {}): Promise<FrontEnd> {
  const nowMs = options.nowMs ?? Date.now;
  const safetyNet = await FileSafetyNet.open({ dir: safetyNetDir(host.dataDir), nowMs, ...(options.safetyNetRetentionMs === undefined ? {} : { retentionMs: options.safetyNetRetentionMs }) });
  const services: MailServices = { safetyNet, outbound: null, nowMs, newId: newTransactionId };
  let smtp: FrontEnd;
  try {
    smtp = await startSmtp(context, plan, services, options);
  } catch (error) {
    await safetyNet.close();
    throw error;
  }
  const pruning = setInterval(() => {
    safetyNet.prune().catch((error: Error) => context.log.warn({ error: error.message }, 'safety net prune failed'));
  }, safetyNetPruneIntervalMs);
  pruning.unref();
  return {
    description: smtp.description,
    ports: smtp.ports,
    async close() {
      clearInterval(pruning);
      await smtp.close();
      await safetyNet.close();
    },
  };
}
