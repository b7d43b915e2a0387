// The SMTP front end: inbound mail (MX, port 2525), submission (1587 with STARTTLS then AUTH,
// 1465 over TLS) and LMTP (2424), on the `smtp-server` package for the wire protocol. This
// file is the session logic: who may send what to whom (MAIL, RCPT), and what a DATA turns
// into (local delivery through the mailbox API, remote recipients into the outbound queue).
// A 250 is sent only once the message is durable in every recipient's database and in the
// safety net (deliver.ts), or, in SMTP, once it is durable for some recipients and the rest is
// durably queued (the outbound queue redelivers locally and bounces what fails for good), so a
// sender never retries a message some recipients already have.

import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { type Account, type FrontEnd, type FrontEndContext, type ListenPlan, type Peer, type Protocol, type ServiceName, type SessionLease, isOwnAddress } from '../frontend.js';
import type { Failure } from '../../engine/errors.js';
import { closeGraceMs, dsnEnvidCharsMax, dsnOrcptCharsMax, receivedHopsMax, recipientsPerTransactionMax, smtpIdleMsMax, traceHeadersBytesMax, unauthenticatedCommandsMax } from './constants.js';
import { type DeliveryTarget, type TargetFailure, deliverLocal } from './deliver.js';
import { xtext } from './dsn.js';
import { enhancedCodeOf, failureReply, isTemporary, reply } from './replies.js';
import { headerValues, protocolName, receivedHeader } from './trace.js';
import type { FailedRecipient, MailServices, MessageDsn, RecipientDsn } from './types.js';

/** mx: mail for accepted domains from anyone; submission: authenticated users, anywhere; lmtp: final delivery. */
export type SmtpRole = 'mx' | 'submission' | 'lmtp';

export type Rcpt = { readonly kind: 'local'; readonly accounts: readonly Account[] } | { readonly kind: 'remote' };

interface ConnectionState {
  counted: boolean;
  lease: SessionLease | null;
}

export type SmtpError = Error & { responseCode: number };

const protocolOf: Record<SmtpRole, Protocol> = { mx: 'smtp', submission: 'submission', lmtp: 'lmtp' };

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** The largest message DATA accepts: the front-end limit, less room for the trace headers. */
export function messageSizeMax(context: FrontEndContext): number {
  return context.limits.messageBytesMax - traceHeadersBytesMax;
}

/** The RFC 3461 parameters of a transaction, or undefined when the client gave none (DSN off, or not used). */
function dsnOf(session: SMTPServerSession): MessageDsn | undefined {
  const envelope = session.envelope.dsn;
  const recipients: Record<string, RecipientDsn> = {};
  for (const rcpt of session.envelope.rcptTo) {
    if (rcpt.dsn?.notify === undefined && rcpt.dsn?.orcpt === undefined) continue;
    recipients[rcpt.address.toLowerCase()] = { notify: rcpt.dsn.notify ?? null, orcpt: rcpt.dsn.orcpt ?? null };
  }
  const ret = envelope?.ret === 'FULL' || envelope?.ret === 'HDRS' ? envelope.ret : null;
  const envid = envelope?.envid ?? null;
  if (ret === null && envid === null && Object.keys(recipients).length === 0) return undefined;
  return { ret, envid, recipients };
}

/** What DATA hands a transaction: an SMTP session's envelope, or a submission's (submit.ts). */
export interface TransactionInput {
  readonly mailFrom: string;
  /** Each recipient with what checkRcpt made of it (undefined: lost, answered 451). */
  readonly rcptTo: ReadonlyArray<{ readonly address: string; readonly rcpt: Rcpt | undefined }>;
  readonly helo: string;
  readonly clientHostname: string | null;
  readonly clientAddress: string;
  /** RFC 3848 `with` keyword of the Received header. */
  readonly protocol: string;
  readonly dsn: MessageDsn | undefined;
}

/**
 * The mail pipeline of one role: `checkRcpt` (where a recipient's mail goes, or the refusal)
 * and `transaction` (a message for checked recipients: local delivery, the outbound queue,
 * partial failures completed in the queue). SMTP sessions run it at RCPT and DATA; submission
 * through FrontEndContext.mailSubmission (JMAP) runs the same functions (submit.ts).
 */
export function mailTransactions(context: FrontEndContext, services: MailServices, role: SmtpRole): {
  checkRcpt(address: string): Promise<Rcpt | SmtpError>;
  transaction(body: Uint8Array, input: TransactionInput): Promise<Array<SmtpError | string>>;
} {
  const log = context.log.child({ protocol: protocolOf[role] });

  async function resolveLocal(address: string): Promise<Rcpt | SmtpError> {
    const resolved = await context.resolveRecipient(address);
    if (!resolved.ok) {
      if (resolved.code === 'INVALID_ARGUMENT') return reply(553, '5.1.3', `${address}: not a valid mailbox address`);
      if (resolved.code === 'NO_SUCH_USER') return reply(550, '5.1.1', `${address}: no such user here`);
      return failureReply(resolved);
    }
    if (resolved.value.length === 1) {
      // A single mailbox that is already full is refused now, not after DATA.
      const account = resolved.value[0]!;
      if (account.quotaBytes !== null) {
        const info = await context.mailboxes(account.database).mailbox(account.mailboxId);
        if (info.ok && info.value.usedBytes >= account.quotaBytes) return failureReply({ ok: false, code: 'OVER_QUOTA', message: `${address}: mailbox full` });
      }
    }
    return { kind: 'local', accounts: resolved.value };
  }

  async function checkRcpt(address: string): Promise<Rcpt | SmtpError> {
    if (role === 'lmtp') return resolveLocal(address);
    const accepted = await context.isAcceptedDomain(domainOf(address));
    if (!accepted.ok) return failureReply(accepted);
    if (accepted.value) return resolveLocal(address);
    if (role === 'mx') return reply(550, '5.7.1', `${address}: relaying denied, this server accepts mail only for its own domains`);
    if (services.outbound === null) return reply(550, '5.7.1', `${address}: this server does not relay to other domains`);
    return { kind: 'remote' };
  }

  async function transaction(body: Uint8Array, input: TransactionInput): Promise<Array<SmtpError | string>> {
    const rcptTo = input.rcptTo;
    const mailFrom = input.mailFrom;
    if (headerValues(body, 'received').length > receivedHopsMax) {
      return rcptTo.map(() => reply(554, '5.4.6', `too many Received headers (more than ${receivedHopsMax}): a mail loop`));
    }
    const deliveredTo = new Set(headerValues(body, 'delivered-to').map((v) => v.toLowerCase()));
    const id = services.newId();
    const timeMs = services.nowMs();
    const received = receivedHeader({
      helo: input.helo,
      clientHostname: input.clientHostname,
      clientAddress: input.clientAddress,
      hostname: context.hostname,
      protocol: input.protocol,
      id,
      recipient: rcptTo.length === 1 ? rcptTo[0]!.address : null,
      timeMs,
    });
    const authResults = role === 'mx' && services.authenticate !== undefined
      ? await services.authenticate(body, { clientAddress: input.clientAddress, helo: input.helo, mailFrom })
      : null;

    const dsn = input.dsn;
    const answers: Array<SmtpError | string | null> = rcptTo.map(() => null);
    const targets: DeliveryTarget[] = [];
    const targetIndex: number[] = [];
    const remote: string[] = [];
    const remoteIndex: number[] = [];
    rcptTo.forEach((address, index) => {
      const rcpt = address.rcpt;
      const lower = address.address.toLowerCase();
      if (rcpt === undefined) answers[index] = reply(451, '4.3.0', 'recipient state lost, try again');
      else if (rcpt.kind === 'remote') {
        remote.push(address.address);
        remoteIndex.push(index);
      } else if (deliveredTo.has(lower)) answers[index] = reply(554, '5.4.6', `${lower}: mail loop (already delivered to this address)`);
      else {
        targets.push({ rcpt: lower, accounts: rcpt.accounts });
        targetIndex.push(index);
      }
    });

    const ok = `2.0.0 Ok: delivered as ${id}`;
    const localDone = targets.length === 0
      ? Promise.resolve([])
      : deliverLocal(context, services.safetyNet, { id, timeMs, mailFrom, prefix: received + (authResults ?? ''), body }, targets, services.delivered);
    const outgoing = async (): Promise<Uint8Array> => {
      const content = Buffer.concat([Buffer.from(received, 'utf8'), body]);
      return services.sign === undefined ? content : services.sign(content, mailFrom);
    };
    const remoteDone = remote.length === 0
      ? Promise.resolve(null)
      : outgoing().then((content) => services.outbound!.enqueue({ id, timeMs, mailFrom, recipients: remote, content, ...(dsn === undefined ? {} : { dsn }) })).then(
          () => null,
          (error: Error) => reply(452, '4.3.1', `the outbound queue cannot take the message: ${error.message}`),
        );
    const [local, remoteError] = await Promise.all([localDone, remoteDone]);
    local.forEach((result, i) => (answers[targetIndex[i]!] = result.ok ? ok : failureReply(result as Failure)));
    for (const index of remoteIndex) answers[index] = remoteError ?? `2.0.0 Ok: queued as ${id}`;
    if (services.outbound !== null && remoteError === null) {
      const content = Buffer.concat([Buffer.from(received + (authResults ?? ''), 'utf8'), body]);
      if (role === 'lmtp') await completeGroupsInQueue({ id, timeMs, mailFrom, content }, answers, targets, targetIndex, local);
      else await completeInQueue({ id, timeMs, mailFrom, content, dsn }, rcptTo.map((a) => a.address.toLowerCase()), answers, targets, targetIndex, local, remote.length > 0);
    }
    log.info({ id, from: mailFrom, recipients: rcptTo.length, bytes: body.length, failed: answers.filter((a) => typeof a !== 'string').length }, 'transaction');
    return answers.map((answer) => answer!);
  }

  /** Did some mailbox of a target that failed take the message (a group some members of which have it)? */
  const reachedSome = (result: TargetFailure, target: DeliveryTarget): boolean => result.failedAccounts.length < new Set(target.accounts.map((a) => a.mailboxId)).size;

  /** A refusal as the queue reports it to the sender (a DSN). */
  const refusal = (address: string, error: SmtpError): FailedRecipient => ({
    address,
    status: enhancedCodeOf(error) ?? '5.0.0',
    diagnostic: `${error.responseCode} ${error.message}`,
    remoteMta: null,
  });

  /** Queues what a transaction could not deliver (local redeliveries and reports); answers the queue's id, or null when it cannot take it. */
  async function queueRest(message: { id: string; timeMs: number; mailFrom: string; content: Uint8Array }, redeliver: Record<string, string>, failed: readonly FailedRecipient[], dsn: MessageDsn | undefined): Promise<string | null> {
    const queuedId = services.newId();
    try {
      await services.outbound!.enqueue({ id: queuedId, timeMs: message.timeMs, mailFrom: message.mailFrom, recipients: Object.keys(redeliver), content: message.content, local: redeliver, ...(dsn === undefined ? {} : { dsn }) }, failed);
    } catch (error) {
      log.error({ id: message.id, error: (error as Error).message }, 'the outbound queue cannot take the undelivered part of a transaction');
      return null;
    }
    return queuedId;
  }

  const restQueued = (id: string, queuedId: string): string => `2.0.0 Ok: delivered as ${id}, the rest queued as ${queuedId}`;

  /**
   * SMTP has one answer per message. When the message is durable for some recipients (a mailbox
   * has it, or the outbound queue does) and others failed, the failed local recipients go into
   * the outbound queue for local redelivery (temporary failures) or a bounce (permanent ones),
   * and every answer becomes 250, so the sender does not send the message again to those who
   * have it. Also queues a report for local deliveries the sender asked to hear of
   * (NOTIFY=SUCCESS). When nothing is stored, or the queue cannot take it, answers stay as they are.
   */
  async function completeInQueue(
    message: { id: string; timeMs: number; mailFrom: string; content: Uint8Array; dsn: MessageDsn | undefined },
    rcptTo: readonly string[],
    answers: Array<SmtpError | string | null>,
    targets: readonly DeliveryTarget[],
    targetIndex: readonly number[],
    local: ReadonlyArray<{ ok: true } | TargetFailure>,
    queuedRemote: boolean,
  ): Promise<void> {
    const stored = queuedRemote || local.some((result, i) => result.ok || reachedSome(result, targets[i]!));
    const redeliver: Record<string, string> = {};
    const recipientsDsn: Record<string, RecipientDsn> = {};
    const reports: FailedRecipient[] = [];
    const paramsOf = (rcpt: string): RecipientDsn | undefined => message.dsn?.recipients[rcpt];
    local.forEach((result, i) => {
      const rcpt = targets[i]!.rcpt;
      const params = paramsOf(rcpt);
      if (result.ok) {
        if (params?.notify?.includes('SUCCESS')) reports.push({ address: rcpt, action: 'delivered', status: '2.0.0', diagnostic: `delivered to the mailbox as ${message.id}`, remoteMta: null });
        return;
      }
      const error = answers[targetIndex[i]!] as SmtpError;
      if (!isTemporary(error)) return;
      for (const account of result.failedAccounts) {
        redeliver[account.address] = rcpt;
        if (params !== undefined) recipientsDsn[account.address] = params;
      }
    });
    const failed: FailedRecipient[] = [...reports];
    answers.forEach((answer, index) => {
      if (answer === null || typeof answer === 'string') return;
      if (isTemporary(answer)) {
        // A temporary failure with no mailbox named (recipient state lost): resolve it again when redelivering.
        if (!targetIndex.includes(index)) redeliver[rcptTo[index]!] = rcptTo[index]!;
        return;
      }
      failed.push(refusal(rcptTo[index]!, answer));
    });
    const partial = Object.keys(redeliver).length > 0 || failed.length > reports.length;
    if (!stored || (!partial && reports.length === 0)) return;
    const dsn: MessageDsn | undefined = message.dsn === undefined ? undefined : { ...message.dsn, recipients: { ...message.dsn.recipients, ...recipientsDsn } };
    const queuedId = await queueRest(message, redeliver, failed, dsn);
    if (queuedId === null || !partial) return;
    log.info({ id: message.id, queued: queuedId, redeliver: Object.keys(redeliver).length, bounced: failed.length - reports.length }, 'part of the transaction queued');
    answers.forEach((answer, index) => {
      if (answer !== null && typeof answer !== 'string') answers[index] = restQueued(message.id, queuedId);
    });
  }

  /**
   * LMTP answers each recipient, so only a recipient that reached several mailboxes (a group),
   * some of which have the message, needs the queue: its failed members are redelivered
   * (temporary failure) or bounced (permanent) by the queue, and it is answered 250, so the
   * MTA does not send it again to the members who have it. A recipient none of whose mailboxes
   * has it keeps its failure (the MTA retries it; nothing is duplicated).
   */
  async function completeGroupsInQueue(
    message: { id: string; timeMs: number; mailFrom: string; content: Uint8Array },
    answers: Array<SmtpError | string | null>,
    targets: readonly DeliveryTarget[],
    targetIndex: readonly number[],
    local: ReadonlyArray<{ ok: true } | TargetFailure>,
  ): Promise<void> {
    const redeliver: Record<string, string> = {};
    const failed: FailedRecipient[] = [];
    const partial: number[] = [];
    local.forEach((result, i) => {
      if (result.ok || !reachedSome(result, targets[i]!)) return;
      const index = targetIndex[i]!;
      const error = answers[index] as SmtpError;
      partial.push(index);
      if (isTemporary(error)) for (const account of result.failedAccounts) redeliver[account.address] = targets[i]!.rcpt;
      else failed.push(refusal(targets[i]!.rcpt, error));
    });
    if (partial.length === 0) return;
    const queuedId = await queueRest(message, redeliver, failed, undefined);
    if (queuedId === null) return;
    log.info({ id: message.id, queued: queuedId, redeliver: Object.keys(redeliver).length, bounced: failed.length }, 'undelivered group members queued');
    for (const index of partial) answers[index] = restQueued(message.id, queuedId);
  }

  return { checkRcpt, transaction };
}

/** A DSN parameter over its RFC 3461 length (smtp-server hands it over decoded: measured as xtext again), or null. */
function dsnTooLong(address: SMTPServerAddress): SmtpError | null {
  const args = address.args === false ? {} : (address.args as Record<string, string | boolean | undefined>);
  for (const [name, max] of [['ENVID', dsnEnvidCharsMax], ['ORCPT', dsnOrcptCharsMax]] as const) {
    const value = args[name];
    if (typeof value === 'string' && xtext(value).length > max) return reply(501, '5.5.4', `${name} longer than ${max} characters (RFC 3461)`);
  }
  return null;
}

/** The session logic of one role, as smtp-server callbacks. */
export function sessionHandlers(context: FrontEndContext, services: MailServices, role: SmtpRole): Pick<SMTPServerOptions, 'onConnect' | 'onClose' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData'> {
  const protocol = protocolOf[role];
  const log = context.log.child({ protocol });
  const states = new WeakMap<SMTPServerSession, ConnectionState>();
  const rcpts = new WeakMap<SMTPServerAddress, Rcpt>();
  const perAddress = new Map<string, number>();
  const peerOf = (session: SMTPServerSession): Peer => ({ protocol, address: session.remoteAddress });
  const stateOf = (session: SMTPServerSession): ConnectionState => {
    let state = states.get(session);
    if (state === undefined) states.set(session, (state = { counted: false, lease: null }));
    return state;
  };

  const { checkRcpt, transaction } = mailTransactions(context, services, role);

  /** What DATA hands the transaction: the session's envelope and the recipients checked at RCPT. */
  const inputOf = (session: SMTPServerSession): TransactionInput => ({
    mailFrom: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
    rcptTo: session.envelope.rcptTo.map((address) => ({ address: address.address, rcpt: rcpts.get(address) })),
    helo: session.hostNameAppearsAs ?? '',
    clientHostname: session.clientHostname && !session.clientHostname.startsWith('[') ? session.clientHostname : null,
    clientAddress: session.remoteAddress,
    protocol: protocolName(role === 'lmtp', session.secure === true, Boolean(session.user)),
    dsn: dsnOf(session),
  });

  async function readMessage(stream: SMTPServerDataStream): Promise<Uint8Array | null> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) if (!stream.sizeExceeded) chunks.push(chunk);
    return stream.sizeExceeded ? null : Buffer.concat(chunks);
  }

  return {
    onConnect(session, callback) {
      const count = perAddress.get(session.remoteAddress) ?? 0;
      if (count >= context.limits.connectionsPerAddress) {
        callback(reply(421, '4.7.0', 'too many connections from your address'));
        return;
      }
      perAddress.set(session.remoteAddress, count + 1);
      stateOf(session).counted = true;
      context.metrics.sessionOpened(protocol);
      callback();
    },

    onClose(session) {
      const state = states.get(session);
      if (state === undefined) return;
      state.lease?.release();
      state.lease = null;
      if (state.counted) {
        state.counted = false;
        const left = (perAddress.get(session.remoteAddress) ?? 1) - 1;
        if (left <= 0) perAddress.delete(session.remoteAddress);
        else perAddress.set(session.remoteAddress, left);
        context.metrics.sessionClosed(protocol);
      }
    },

    onAuth(auth, session, callback) {
      if (role !== 'submission' || (auth.method !== 'PLAIN' && auth.method !== 'LOGIN')) {
        callback(reply(504, '5.5.4', 'unrecognised authentication type'));
        return;
      }
      void (async () => {
        const checked = await context.authenticate(auth.username ?? '', auth.password ?? '', peerOf(session));
        if (!checked.ok) {
          callback(checked.code === 'AUTHENTICATION_FAILED' ? reply(535, '5.7.8', 'authentication credentials invalid') : reply(454, '4.7.0', `temporary authentication failure: ${checked.message}`));
          return;
        }
        const lease = context.openSession(checked.value, peerOf(session));
        if (!lease.ok) {
          callback(reply(454, '4.7.0', lease.message));
          return;
        }
        const state = stateOf(session);
        state.lease?.release();
        state.lease = lease.value;
        callback(null, { user: checked.value });
      })().catch((error: Error) => callback(reply(454, '4.7.0', `temporary authentication failure: ${error.message}`)));
    },

    onMailFrom(address, session, callback) {
      const tooLong = dsnTooLong(address);
      if (tooLong !== null) return callback(tooLong);
      if (role !== 'submission') return callback();
      const account = session.user as unknown as Account | undefined;
      const from = address.address.toLowerCase();
      if (account === undefined) return callback(reply(530, '5.7.0', 'authentication required'));
      if (!isOwnAddress(account, from)) {
        return callback(reply(553, '5.7.1', `${address.address}: not one of your addresses (${account.address})`));
      }
      callback();
    },

    onRcptTo(address, session, callback) {
      const tooLong = dsnTooLong(address);
      if (tooLong !== null) return callback(tooLong);
      if (session.envelope.rcptTo.length >= recipientsPerTransactionMax) return callback(reply(452, '4.5.3', `too many recipients (at most ${recipientsPerTransactionMax} per message)`));
      void checkRcpt(address.address).then(
        (result) => {
          if (result instanceof Error) {
            context.metrics.delivery(isTemporary(result) ? 'deferred' : 'rejected', 1);
            callback(result);
            return;
          }
          rcpts.set(address, result);
          callback();
        },
        (error: Error) => callback(reply(451, '4.3.0', `temporary failure: ${error.message}`)),
      );
    },

    onData(stream, session, callback) {
      const startMs = Date.now();
      void (async () => {
        const body = await readMessage(stream);
        // Over the SIZE limit: smtp-server answers 552 5.3.4 itself (rejectOversized).
        if (body === null) return callback(reply(552, '5.3.4', 'message too big'));
        const answers = await transaction(body, inputOf(session));
        const failed = answers.filter((a): a is SmtpError => typeof a !== 'string');
        const delivered = answers.length - failed.length;
        if (delivered > 0) context.metrics.delivery('delivered', delivered);
        for (const f of failed) context.metrics.delivery(isTemporary(f) ? 'deferred' : 'rejected', 1);
        context.metrics.command(protocol, 'DATA', failed.length === 0 ? 'ok' : 'no', Date.now() - startMs);
        if (role === 'lmtp') return callback(null, answers);
        // SMTP has one answer for the message: a failure of any recipient fails it (a temporary one first, so the client retries).
        const failure = failed.find(isTemporary) ?? failed[0];
        if (failure !== undefined) return callback(failure);
        callback(null, answers[0] as string);
      })().catch((error: Error) => {
        log.error({ error: error.message }, 'transaction failed');
        stream.resume();
        callback(reply(451, '4.3.0', 'local error in processing, try again later'));
      });
    },
  };
}

export interface SmtpFrontEndOptions {
  /** Which services to listen on (default: all four). */
  readonly services?: readonly ('smtp' | 'submission' | 'submissions' | 'lmtp')[];
}

/** Starts SMTP (mx), submission (STARTTLS and TLS) and LMTP listeners. */
export async function startSmtp(context: FrontEndContext, plan: ListenPlan, services: MailServices, options: SmtpFrontEndOptions = {}): Promise<FrontEnd> {
  const wanted = options.services ?? ['smtp', 'submission', 'submissions', 'lmtp'];
  const sizeMax = messageSizeMax(context);
  const servers: Array<{ service: ServiceName; server: SMTPServer; port: number }> = [];
  const roleOf: Record<string, SmtpRole> = { smtp: 'mx', submission: 'submission', submissions: 'submission', lmtp: 'lmtp' };
  try {
    for (const service of wanted) {
      const role = roleOf[service]!;
      const server = new SMTPServer({
        name: context.hostname,
        banner: 'Quire',
        key: context.tls.key,
        cert: context.tls.cert,
        minVersion: 'TLSv1.2',
        secure: service === 'submissions',
        lmtp: role === 'lmtp',
        size: sizeMax,
        rejectOversized: true,
        hideENHANCEDSTATUSCODES: false,
        // DSN (RFC 3461) needs the outbound queue: it carries the parameters and sends the reports.
        hideDSN: role === 'lmtp' || services.outbound === null,
        hideREQUIRETLS: true,
        authMethods: ['PLAIN', 'LOGIN'],
        disabledCommands: role === 'submission' ? [] : ['AUTH'],
        authOptional: role !== 'submission',
        allowInsecureAuth: false,
        disableReverseLookup: true,
        logger: false,
        maxClients: context.limits.connectionsPerPort,
        socketTimeout: Math.min(context.limits.idleMs, smtpIdleMsMax),
        closeTimeout: closeGraceMs,
        maxAllowedUnauthenticatedCommands: unauthenticatedCommandsMax,
        ...sessionHandlers(context, services, role),
      });
      server.on('error', (error: Error) => context.log.warn({ service, error: error.message }, 'smtp connection error'));
      const port = await new Promise<number>((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(plan.port(service), plan.host, () => {
          server.server.off('error', reject);
          resolve((server.server.address() as AddressInfo).port);
        });
      });
      servers.push({ service, server, port });
    }
  } catch (error) {
    await Promise.allSettled(servers.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
    throw error;
  }
  const label: Record<string, string> = { smtp: 'MX', submission: 'submission, STARTTLS', submissions: 'submission, TLS', lmtp: 'LMTP' };
  return {
    description: `SMTP ${servers.map(({ service, port }) => `${plan.host}:${port} (${label[service]})`).join(', ')}`,
    ports: Object.fromEntries(servers.map(({ service, port }) => [service, port])),
    async close() {
      await Promise.allSettled(servers.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}
