// Submission for the other front ends: what FrontEndContext.mailSubmission().submit runs
// (JMAP EmailSubmission, vacation auto-replies). It is SMTP submission's own pipeline
// (server.ts mailTransactions with the submission role): the envelope sender checked the same
// way (one of the user's addresses), each recipient checked as at RCPT (local ones resolved,
// a full single mailbox refused, remote ones only when there is an outbound queue), then the
// transaction DATA runs (Received header, local delivery durable in every mailbox and the
// safety net, remote recipients DKIM-signed into the durable outbound queue, a partial failure
// completed in the queue). It resolves once all of that is durable, one outcome per recipient.

import { fail, ok, type Result } from '../../engine/errors.js';
import { type FrontEndContext, type Submission, type SubmissionReceipt, type SubmittedRecipient, isMailboxAddress, isOwnAddress } from '../frontend.js';
import { recipientsPerTransactionMax } from './constants.js';
import { type Rcpt, mailTransactions } from './server.js';
import type { MailServices } from './types.js';

const replyOf = (error: Error & { responseCode: number }): string => `${error.responseCode} ${error.message}`;

/** The submit function of a mail flow. */
export function submitter(context: FrontEndContext, services: MailServices): (submission: Submission) => Promise<Result<SubmissionReceipt>> {
  const { checkRcpt, transaction } = mailTransactions(context, services, 'submission');
  return async (submission) => {
    const { account, mailFrom, content, via } = submission;
    const nullSender = mailFrom === '' && submission.autoReply === true;
    if (!nullSender && !isOwnAddress(account, mailFrom)) return fail('NOT_AUTHORIZED', `${mailFrom}: not one of your addresses (${account.address})`);
    const recipients = [...new Set(submission.recipients.map((r) => r.toLowerCase()))];
    if (recipients.length === 0) return fail('INVALID_ARGUMENT', 'no recipients');
    if (recipients.length > recipientsPerTransactionMax) return fail('LIMIT', `too many recipients (at most ${recipientsPerTransactionMax} per message)`);

    const outcomes = new Map<string, SubmittedRecipient>();
    const accepted: Array<{ address: string; rcpt: Rcpt }> = [];
    for (const address of recipients) {
      const rcpt = isMailboxAddress(address) ? await checkRcpt(address) : Object.assign(new Error(`5.1.3 ${address}: not a valid mailbox address`), { responseCode: 553 });
      if (rcpt instanceof Error) outcomes.set(address, { address, outcome: 'refused', reply: replyOf(rcpt), queueId: null });
      else accepted.push({ address, rcpt });
    }
    let id: string | null = null;
    if (accepted.length > 0) {
      const answers = await transaction(content, { mailFrom, rcptTo: accepted, helo: via.helo, clientHostname: null, clientAddress: via.clientAddress, protocol: via.protocol, dsn: undefined });
      answers.forEach((answer, i) => {
        const address = accepted[i]!.address;
        if (typeof answer !== 'string') return outcomes.set(address, { address, outcome: 'refused', reply: replyOf(answer), queueId: null });
        id ??= /as (\S+?)(?:,|$)/.exec(answer)?.[1] ?? null;
        const queued = /queued as (\S+)$/.exec(answer);
        outcomes.set(address, { address, outcome: queued === null ? 'delivered' : 'queued', reply: `250 ${answer}`, queueId: queued?.[1] ?? null });
      });
    }
    const answered = recipients.map((address) => outcomes.get(address)!);
    context.log.info({ id, from: mailFrom, recipients: recipients.length, refused: answered.filter((r) => r.outcome === 'refused').length, protocol: via.protocol }, 'submission');
    return ok({ id: id ?? services.newId(), timeMs: services.nowMs(), recipients: answered });
  };
}
