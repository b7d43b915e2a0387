// Submission: the one path by which a user's message leaves their hands. SMTP submission
// (ports 1587/1465, after DATA) and JMAP EmailSubmission (through FrontEndContext.mailFlow)
// both call `submitMessage`, and so do the vacation auto-replies. It checks the envelope sender
// is one of the user's addresses, puts our Received header on top, delivers local recipients
// into their INBOX (deliverLocal: durable in every mailbox and in the safety net) and hands
// remote recipients, DKIM-signed for the sender's domain, to the durable outbound queue. It
// resolves once all of that is durable, with one outcome per recipient.

import { fail, ok, type Result } from '../../engine/errors.js';
import { type FrontEndContext, type Submission, type SubmissionReceipt, type SubmittedRecipient, isOwnAddress } from '../frontend.js';
import { recipientsPerTransactionMax } from './constants.js';
import { type DeliveryTarget, deliverLocal } from './deliver.js';
import { receivedHeader } from './trace.js';
import type { MailServices } from './types.js';

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();
const addressPattern = /^[^\s<>@]{1,64}@[^\s<>@]{1,255}$/;

/** Where one recipient's mail goes: accounts here, another server, or a refusal. */
export async function routeRecipient(context: FrontEndContext, services: MailServices, address: string): Promise<Result<{ kind: 'local'; target: DeliveryTarget } | { kind: 'remote' }>> {
  if (!addressPattern.test(address)) return fail('INVALID_ARGUMENT', `${address}: not a valid mailbox address`);
  const accepted = await context.isAcceptedDomain(domainOf(address));
  if (!accepted.ok) return accepted;
  if (!accepted.value) {
    return services.outbound === null ? fail('NOT_AUTHORIZED', `${address}: this server does not relay to other domains`) : ok({ kind: 'remote' });
  }
  const resolved = await context.resolveRecipient(address);
  if (!resolved.ok) return resolved.code === 'NO_SUCH_USER' ? fail('NO_SUCH_USER', `${address}: no such user here`) : resolved;
  return ok({ kind: 'local', target: { rcpt: address.toLowerCase(), accounts: resolved.value } });
}

export async function submitMessage(context: FrontEndContext, services: MailServices, submission: Submission): Promise<Result<SubmissionReceipt>> {
  const { account, mailFrom, content, via } = submission;
  const nullSender = mailFrom === '' && submission.autoReply === true;
  if (!nullSender && !isOwnAddress(account, mailFrom)) return fail('NOT_AUTHORIZED', `${mailFrom}: not one of your addresses (${account.address})`);
  const recipients = [...new Set(submission.recipients.map((r) => r.toLowerCase()))];
  if (recipients.length === 0) return fail('INVALID_ARGUMENT', 'no recipients');
  if (recipients.length > recipientsPerTransactionMax) return fail('LIMIT', `too many recipients (at most ${recipientsPerTransactionMax} per message)`);
  const id = services.newId();
  const timeMs = services.nowMs();
  const received = receivedHeader({
    helo: via.helo,
    clientHostname: null,
    clientAddress: via.clientAddress,
    hostname: context.hostname,
    protocol: via.protocol,
    id,
    recipient: recipients.length === 1 ? recipients[0]! : null,
    timeMs,
  });

  const results: Array<Result<'delivered' | 'queued'>> = [];
  const targets: DeliveryTarget[] = [];
  const targetIndex: number[] = [];
  const remote: string[] = [];
  const remoteIndex: number[] = [];
  for (const [index, address] of recipients.entries()) {
    const route = await routeRecipient(context, services, address);
    results.push(route.ok ? ok(route.value.kind === 'local' ? 'delivered' : 'queued') : route);
    if (!route.ok) continue;
    if (route.value.kind === 'local') {
      targets.push(route.value.target);
      targetIndex.push(index);
    } else {
      remote.push(address);
      remoteIndex.push(index);
    }
  }

  const localDone = targets.length === 0
    ? Promise.resolve([])
    : deliverLocal(context, services.safetyNet, { id, timeMs, mailFrom, prefix: received, body: content }, targets, services.delivered);
  const remoteDone = remote.length === 0
    ? Promise.resolve(ok(undefined))
    : (async (): Promise<Result<void>> => {
        try {
          const withTrace = Buffer.concat([Buffer.from(received, 'utf8'), content]);
          const signed = services.sign === undefined || mailFrom === '' ? withTrace : await services.sign(withTrace, mailFrom);
          await services.outbound!.enqueue({ id, timeMs, mailFrom, recipients: remote, content: signed });
          return ok(undefined);
        } catch (error) {
          return fail('DISK_FULL', `the outbound queue cannot take the message: ${(error as Error).message}`);
        }
      })();
  const [local, queued] = await Promise.all([localDone, remoteDone]);
  local.forEach((result, i) => (results[targetIndex[i]!] = result.ok ? ok('delivered') : result));
  for (const index of remoteIndex) results[index] = queued.ok ? ok('queued') : queued;
  const answered: SubmittedRecipient[] = recipients.map((address, i) => ({ address, result: results[i]! }));
  context.log.info({ id, from: mailFrom, recipients: recipients.length, bytes: content.length, failed: answered.filter((r) => !r.result.ok).length, protocol: via.protocol }, 'submission');
  return ok({ id, timeMs, recipients: answered });
}
