// EmailSubmission/get, set, changes, query (RFC 8621 sec. 7): sending an Email through the
// server's mail flow (FrontEndContext.mailSubmission), the same pipeline as SMTP on 1587/1465:
// sender check, Received header, local recipients delivered at once, remote ones DKIM-signed
// into the durable outbound queue. The Bcc header field is removed before sending (7.5).
//
// Submissions are account documents of kind `submission` (collection.ts, in the mailbox
// database's log; the newest submissionsKept). deliveryStatus is what the flow answered per recipient, brought up to date
// from the queue's state on every EmailSubmission call (and stored, so the state string moves
// when a queued recipient is relayed or bounced). undoStatus is `pending` while nothing of the
// message was delivered and it waits in the queue: then `undoStatus: canceled` takes it out.

import { isGroup } from '../../../engine/api.js';
import { type MailSubmission, isMailboxAddress, isOwnAddress } from '../../frontend.js';
import { recipientsPerTransactionMax } from '../../smtp/constants.js';
import { type EmailRef, unwrap } from './account.js';
import { Collection, type Stored, getFrom, withCollection } from './collection.js';
import { type Args, type Method, type MethodContext, MethodError, checkOwnAccount, jmapLimits, resolveId, setArguments, setResponse } from './core.js';
import { utcDate } from './email.js';
import { type IdentityValue, identities } from './identity.js';

export const submissionKind = 'submission';
/** Submissions remembered per account; older ones are destroyed (RFC 8621 7: the server may). */
export const submissionsKept = 500;

type Delivered = 'queued' | 'yes' | 'no' | 'unknown';

interface DeliveryStatus {
  readonly smtpReply: string;
  readonly delivered: Delivered;
  readonly displayed: 'unknown' | 'yes';
}

interface SubmissionValue {
  readonly identityId: string;
  readonly emailId: string;
  readonly threadId: string;
  readonly envelope: { readonly mailFrom: { email: string; parameters: null }; readonly rcptTo: ReadonlyArray<{ email: string; parameters: null }> };
  readonly sendAt: string;
  readonly undoStatus: 'pending' | 'final' | 'canceled';
  readonly deliveryStatus: Readonly<Record<string, DeliveryStatus>>;
  /** The outbound queue's message id of each queued recipient. */
  readonly queueIds: Readonly<Record<string, string>>;
}

const objectOf = (item: Stored<SubmissionValue>): Args => {
  const { identityId, emailId, threadId, envelope, sendAt, undoStatus, deliveryStatus } = item.value;
  return { id: item.id, identityId, emailId, threadId, envelope, sendAt, undoStatus, deliveryStatus, dsnBlobIds: [], mdnBlobIds: [] };
};

function flowOf(context: MethodContext): MailSubmission {
  const flow = context.frontEnd.mailSubmission?.() ?? null;
  if (flow === null) throw new MethodError('serverUnavailable', 'this server does not send mail now');
  return flow;
}

/** Brings queued recipients and undoStatus up to date from the queue. */
function refresh(collection: Collection<SubmissionValue>, flow: MailSubmission): void {
  for (const item of collection.all()) {
    const value = item.value;
    const waiting = Object.entries(value.deliveryStatus).filter(([, s]) => s.delivered === 'queued');
    if (value.undoStatus === 'canceled' || (waiting.length === 0 && value.undoStatus === 'final')) continue;
    const deliveryStatus = { ...value.deliveryStatus };
    const statuses = new Map([...new Set(Object.values(value.queueIds))].map((id) => [id, flow.queued(id)]));
    for (const [address] of waiting) {
      const status = statuses.get(value.queueIds[address] ?? '') ?? null;
      const failed = status?.failed.find((f) => f.address.toLowerCase() === address);
      if (status === null) deliveryStatus[address] = { smtpReply: '250 2.0.0 Ok: left the queue, outcome not known here', delivered: 'unknown', displayed: 'unknown' };
      else if (failed !== undefined) deliveryStatus[address] = { smtpReply: `${failed.status.startsWith('4') ? 451 : 550} ${failed.status} ${failed.diagnostic}`, delivered: 'no', displayed: 'unknown' };
      else if (!status.remaining.some((r) => r.toLowerCase() === address)) deliveryStatus[address] = { smtpReply: '250 2.0.0 Ok: relayed', delivered: 'yes', displayed: 'unknown' };
    }
    const reached = Object.values(deliveryStatus).some((s) => s.delivered === 'yes' || s.delivered === 'unknown');
    const undoStatus = value.undoStatus === 'pending' && (reached || [...statuses.values()].some((q) => q === null || q.finished)) ? 'final' : value.undoStatus;
    if (undoStatus !== value.undoStatus || JSON.stringify(deliveryStatus) !== JSON.stringify(value.deliveryStatus)) collection.update(item.id, { ...value, undoStatus, deliveryStatus });
  }
}

async function submissions<R>(context: MethodContext, change: (collection: Collection<SubmissionValue>) => R): Promise<R> {
  const flow = flowOf(context);
  // The queue's news is its own change, so a /set's ifInState compares with a state the client could have seen.
  // Without news (the usual case) the change runs on the same read; with news it runs on a read after its commit.
  const first = await withCollection<SubmissionValue, { readonly result: R } | null>(context, submissionKind, 'S', (collection) => {
    refresh(collection, flow);
    return collection.ops.length === 0 ? { result: change(collection) } : null;
  });
  if (first.result !== null) return first.result.result;
  return (await withCollection<SubmissionValue, R>(context, submissionKind, 'S', change)).result;
}

/** Brings the account's submissions up to date from the queue (a queued message finished): their state moves, and push tells the clients. */
export async function refreshSubmissions(context: MethodContext): Promise<void> {
  await withCollection<SubmissionValue, void>(context, submissionKind, 'S', (collection) => refresh(collection, flowOf(context)));
}

export const submissionGet: Method = async (args, context) => {
  checkOwnAccount(args, context);
  return submissions(context, (collection) => getFrom(collection, args, context.accountId, objectOf, (id) => resolveId(id, context), jmapLimits.maxObjectsInGet));
};

export const submissionChanges: Method = async (args, context) => {
  checkOwnAccount(args, context);
  return submissions(context, (collection) => collection.changes(context.accountId, args.sinceState, args.maxChanges));
};

const filterKeys = ['identityIds', 'emailIds', 'threadIds', 'undoStatus', 'before', 'after'];
const sortKeys = ['emailId', 'threadId', 'sentAt'];

function matches(value: SubmissionValue, filter: Args): boolean {
  if (typeof filter.operator === 'string') {
    const conditions = (Array.isArray(filter.conditions) ? filter.conditions : []) as Args[];
    if (filter.operator === 'AND') return conditions.every((c) => matches(value, c));
    if (filter.operator === 'OR') return conditions.some((c) => matches(value, c));
    if (filter.operator === 'NOT') return !conditions.some((c) => matches(value, c));
    throw new MethodError('unsupportedFilter', `operator ${filter.operator}`);
  }
  for (const [key, wanted] of Object.entries(filter)) {
    if (!filterKeys.includes(key)) throw new MethodError('unsupportedFilter', `filter ${key}`);
    const ok =
      key === 'identityIds' ? Array.isArray(wanted) && wanted.includes(value.identityId)
      : key === 'emailIds' ? Array.isArray(wanted) && wanted.includes(value.emailId)
      : key === 'threadIds' ? Array.isArray(wanted) && wanted.includes(value.threadId)
      : key === 'undoStatus' ? wanted === value.undoStatus
      : key === 'before' ? Date.parse(value.sendAt) < Date.parse(String(wanted))
      : Date.parse(value.sendAt) >= Date.parse(String(wanted));
    if (!ok) return false;
  }
  return true;
}

/** The ids a query (filter, sort) selects, in order; ties keep the order of creation. */
function queryIds(collection: Collection<SubmissionValue>, args: Args): string[] {
  const sort = (args.sort ?? []) as Args[];
  if (!Array.isArray(sort)) throw new MethodError('invalidArguments', 'sort must be a list');
  for (const s of sort) if (!sortKeys.includes(s?.property)) throw new MethodError('unsupportedSort', `sort by ${s?.property}`);
  let items = collection.all();
  if (args.filter !== undefined && args.filter !== null) items = items.filter((i) => matches(i.value, args.filter as Args));
  const key = (i: Stored<SubmissionValue>, property: string): string => (property === 'emailId' ? i.value.emailId : property === 'threadId' ? i.value.threadId : i.value.sendAt);
  items.sort((a, b) => {
    for (const s of sort) {
      const x = key(a, s.property) < key(b, s.property) ? -1 : key(a, s.property) > key(b, s.property) ? 1 : 0;
      if (x !== 0) return s.isAscending === false ? -x : x;
    }
    return a.createdModseq - b.createdModseq;
  });
  return items.map((i) => i.id);
}

export const submissionQuery: Method = async (args, context) => {
  checkOwnAccount(args, context);
  return submissions(context, (collection) => {
    const ids = queryIds(collection, args);
    const position = typeof args.position === 'number' && args.position > 0 ? args.position : 0;
    const limit = typeof args.limit === 'number' && args.limit >= 0 ? args.limit : null;
    return {
      accountId: context.accountId,
      queryState: collection.state,
      canCalculateChanges: true,
      position,
      ids: ids.slice(position, limit === null ? undefined : position + limit),
      ...(args.calculateTotal === true ? { total: ids.length } : {}),
    };
  });
};

/**
 * RFC 8620 5.6 /queryChanges. The sort keys (emailId, threadId, sendAt, then creation) never
 * change, but the filter's undoStatus does: so every submission changed or destroyed since the
 * old state is removed, and each changed one still selected is added back at its index (the RFC
 * allows removing and adding ids that did not move). A state older than the destroyed ids the
 * engine remembers answers cannotCalculateChanges.
 */
export const submissionQueryChanges: Method = async (args, context) => {
  checkOwnAccount(args, context);
  if (args.maxChanges !== undefined && args.maxChanges !== null && (typeof args.maxChanges !== 'number' || args.maxChanges < 1)) throw new MethodError('invalidArguments', 'maxChanges must be positive');
  return submissions(context, (collection) => {
    const since = collection.since(args.sinceQueryState);
    const ids = queryIds(collection, args);
    const { created, updated, destroyed } = collection.changedSince(since);
    const changed = new Set([...created, ...updated]);
    const removed = [...updated, ...destroyed];
    const added = ids.flatMap((id, index) => (changed.has(id) ? [{ id, index }] : []));
    if (typeof args.maxChanges === 'number' && removed.length + added.length > args.maxChanges) throw new MethodError('tooManyChanges', `more than ${args.maxChanges} changes`);
    return {
      accountId: context.accountId,
      oldQueryState: args.sinceQueryState,
      newQueryState: collection.state,
      removed,
      added,
      ...(args.calculateTotal === true ? { total: ids.length } : {}),
    };
  });
};

/** The header section without its Bcc fields (RFC 8621 7.5: the server removes Bcc before sending). */
export function withoutBcc(bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  const kept = head.split(/\r?\n(?![ \t])/).filter((field) => !/^bcc\s*:/i.test(field));
  if (kept.length === head.split(/\r?\n(?![ \t])/).length) return bytes;
  return Buffer.from(kept.join('\r\n') + (end < 0 ? '\r\n' : text.slice(end)), 'latin1');
}

/**
 * The envelope given, or made from the identity and the To/Cc/Bcc of the Email (RFC 8621 7.5).
 * The mail flow checks the sender and the number of recipients (forbiddenMailFrom and
 * tooManyRecipients come from its answer); recipients that are not addresses are refused here,
 * all together (invalidRecipients).
 */
function envelopeOf(given: unknown, identityEmail: string, recipients: readonly string[]): SubmissionValue['envelope'] {
  if (given === null || given === undefined) {
    if (recipients.length === 0) throw new MethodError('noRecipients', 'the email has no To, Cc or Bcc');
    return { mailFrom: { email: identityEmail, parameters: null }, rcptTo: recipients.map((email) => ({ email, parameters: null })) };
  }
  const envelope = given as { mailFrom?: { email?: unknown }; rcptTo?: Array<{ email?: unknown }> };
  if (typeof envelope.mailFrom?.email !== 'string' || !Array.isArray(envelope.rcptTo)) throw new MethodError('invalidProperties', 'envelope needs mailFrom and rcptTo', { properties: ['envelope'] });
  if (envelope.rcptTo.length === 0) throw new MethodError('noRecipients', 'rcptTo is empty');
  const invalid = envelope.rcptTo.map((r) => r?.email).filter((e) => typeof e !== 'string' || !isMailboxAddress(e)).map(String);
  if (invalid.length > 0) throw new MethodError('invalidRecipients', 'some recipients are not addresses', { invalidRecipients: invalid });
  return { mailFrom: { email: envelope.mailFrom.email.toLowerCase(), parameters: null }, rcptTo: envelope.rcptTo.map((r) => ({ email: String(r.email).toLowerCase(), parameters: null })) };
}

/** Sends one EmailSubmission create; answers the stored value. `identityOf`: the account's identities, read once per request. */
async function send(object: Args, context: MethodContext, flow: MailSubmission, identityOf: (id: string) => Promise<IdentityValue | null>): Promise<SubmissionValue> {
  const unknown = Object.keys(object).filter((k) => !['identityId', 'emailId', 'envelope'].includes(k));
  if (unknown.length > 0) throw new MethodError('invalidProperties', 'unknown or server-set properties', { properties: unknown });
  if (typeof object.identityId !== 'string' || typeof object.emailId !== 'string') throw new MethodError('invalidProperties', 'identityId and emailId are required', { properties: ['identityId', 'emailId'] });
  const identityId = resolveId(object.identityId, context);
  const identity = await identityOf(identityId);
  if (identity === null) throw new MethodError('invalidProperties', `no identity ${identityId}`, { properties: ['identityId'] });
  if (!isOwnAddress(context.account, identity.email)) throw new MethodError('forbiddenFrom', `${identity.email} is no longer one of your addresses`);
  const emailId = resolveId(object.emailId, context);
  const view = context.view;
  const ref: EmailRef | null = await view.email(emailId);
  if (ref === null) throw new MethodError('invalidProperties', `no email ${emailId}`, { properties: ['emailId'] });
  const summary = (await view.contentsOf([ref])).get(ref.id)?.summary;
  if (summary === undefined) throw new MethodError('invalidEmail', 'the email cannot be read', { properties: ['emailId'] });
  const addressesOf = (entries: typeof summary.envelope.to) => entries.flatMap((e) => (isGroup(e) ? e.addresses : [e])).map((a) => a.email.toLowerCase());
  const from = addressesOf(summary.envelope.from);
  if (from.length === 0) throw new MethodError('invalidEmail', 'the email has no From', { properties: ['from'] });
  const notMine = from.filter((a) => !isOwnAddress(context.account, a));
  if (notMine.length > 0) throw new MethodError('forbiddenFrom', `From names addresses that are not yours: ${notMine.join(', ')}`);
  const recipients = [...new Set([...addressesOf(summary.envelope.to), ...addressesOf(summary.envelope.cc), ...addressesOf(summary.envelope.bcc)])];
  const envelope = envelopeOf(object.envelope, identity.email, recipients);
  const content = withoutBcc(unwrap(await view.api.readMessage(view.mailboxId, ref.folder.name, ref.info.uid)));
  const receipt = await flow.submit({
    account: context.account,
    mailFrom: envelope.mailFrom.email,
    recipients: envelope.rcptTo.map((r) => r.email),
    content,
    via: { helo: 'jmap', clientAddress: context.clientAddress, protocol: 'HTTPSA' },
  });
  if (!receipt.ok) {
    if (receipt.code === 'NOT_AUTHORIZED') throw new MethodError('forbiddenMailFrom', receipt.message);
    if (receipt.code === 'LIMIT') throw new MethodError('tooManyRecipients', receipt.message, { maxRecipients: recipientsPerTransactionMax });
    if (receipt.code === 'INVALID_ARGUMENT') throw new MethodError('noRecipients', receipt.message);
    throw new MethodError('serverUnavailable', receipt.message);
  }
  const deliveryStatus: Record<string, DeliveryStatus> = {};
  const queueIds: Record<string, string> = {};
  for (const { address, outcome, reply, queueId } of receipt.value.recipients) {
    deliveryStatus[address] = { smtpReply: reply, delivered: outcome === 'delivered' ? 'yes' : outcome === 'queued' ? 'queued' : 'no', displayed: 'unknown' };
    if (queueId !== null) queueIds[address] = queueId;
  }
  const statuses = Object.values(deliveryStatus);
  const pending = statuses.some((s) => s.delivered === 'queued') && !statuses.some((s) => s.delivered === 'yes');
  return { identityId, emailId, threadId: ref.info.threadId, envelope, sendAt: utcDate(receipt.value.timeMs), undoStatus: pending ? 'pending' : 'final', deliveryStatus, queueIds };
}

export function submissionSet(emailSet: Method): Method {
  return async (args, context) => {
    checkOwnAccount(args, context);
    const flow = flowOf(context);
    const { creates, updates, destroys } = setArguments(args);
    // The submissions are read once (brought up to date from the queue): every object is worked
    // out on that copy, and their changes are committed together at the end (planned again on a
    // fresh read only when another writer got there first).
    const listing = await submissions(context, (collection) => {
      if (args.ifInState !== undefined && args.ifInState !== null && args.ifInState !== collection.state) throw new MethodError('stateMismatch', 'ifInState does not match');
      return collection.listing;
    });
    const working = new Collection<SubmissionValue>(submissionKind, listing, 'S');
    const { out, put, refused } = setResponse(context.accountId, working.state);
    /** The request's changes, in order, as they apply to a collection (the working copy, then the one committed). */
    const steps: Array<(collection: Collection<SubmissionValue>) => void> = [];
    const step = (change: (collection: Collection<SubmissionValue>) => void): void => {
      change(working);
      steps.push(change);
    };
    /** What each object is answered once the changes are durable (refused all together if they are not). */
    const answers: Array<{ readonly key: string; readonly refuseKey: string; readonly id: string; readonly value: unknown }> = [];
    /** Submission id → its emailId, for onSuccess*Email (creation ids as `#cid`). */
    const succeeded = new Map<string, string>();
    let identitiesRead: Promise<ReadonlyMap<string, IdentityValue>> | null = null;
    const identityOf = async (id: string): Promise<IdentityValue | null> => {
      identitiesRead ??= identities(context, (collection) => new Map(collection.all().map((item) => [item.id, item.value]))).then((read) => read.result);
      return (await identitiesRead).get(id) ?? null;
    };

    for (const [creationId, object] of creates) {
      try {
        const value = await send(object, context, flow, identityOf);
        const id = working.add(value, { keepNewest: submissionsKept });
        steps.push((collection) => collection.add(value, { keepNewest: submissionsKept, id }));
        context.createdIds.set(creationId, id);
        succeeded.set(`#${creationId}`, value.emailId).set(id, value.emailId);
        answers.push({ key: 'created', refuseKey: 'notCreated', id: creationId, value: { id, threadId: value.threadId, sendAt: value.sendAt, undoStatus: value.undoStatus, deliveryStatus: value.deliveryStatus, dsnBlobIds: [], mdnBlobIds: [], ...(object.envelope === undefined || object.envelope === null ? { envelope: value.envelope } : {}) } });
      } catch (error) {
        refused('notCreated', creationId, error);
      }
    }

    for (const [rawId, patch] of updates) {
      const id = resolveId(rawId, context);
      try {
        const current = working.get(id)?.value ?? null;
        if (current === null) throw new MethodError('notFound', `no submission ${id}`);
        const other = Object.keys(patch).filter((k) => k !== 'undoStatus');
        if (other.length > 0 || (patch.undoStatus !== undefined && patch.undoStatus !== 'canceled')) throw new MethodError('invalidProperties', 'only undoStatus can change, to canceled', { properties: other.length > 0 ? other : ['undoStatus'] });
        if (patch.undoStatus === 'canceled' && current.undoStatus !== 'canceled') {
          if (current.undoStatus !== 'pending') throw new MethodError('cannotUnsend', 'the message has been delivered to a recipient already');
          let cancelled = true;
          for (const queueId of new Set(Object.values(current.queueIds))) cancelled = cancelled && unwrap(await flow.cancel(queueId));
          if (!cancelled) throw new MethodError('cannotUnsend', 'the message is being delivered or was delivered already');
          const value: SubmissionValue = { ...current, undoStatus: 'canceled' };
          step((collection) => {
            if (collection.get(id) !== undefined) collection.update(id, value);
          });
        }
        succeeded.set(id, current.emailId);
        answers.push({ key: 'updated', refuseKey: 'notUpdated', id, value: null });
      } catch (error) {
        refused('notUpdated', id, error);
      }
    }

    for (const rawId of destroys) {
      const id = resolveId(rawId, context);
      if (working.get(id) === undefined) put('notDestroyed', id, { type: 'notFound' });
      else {
        step((collection) => collection.destroy(id));
        answers.push({ key: 'destroyed', refuseKey: 'notDestroyed', id, value: null });
      }
    }
    try {
      out.newState = steps.length === 0 ? working.state : (await withCollection<SubmissionValue, void>(context, submissionKind, 'S', (collection) => {
        refresh(collection, flow);
        for (const change of steps) change(collection);
      }, [], listing)).newState;
    } catch (error) {
      for (const { refuseKey, id } of answers) refused(refuseKey, id, error);
      succeeded.clear();
      answers.length = 0;
      out.newState = working.state;
    }
    for (const { key, id, value } of answers) {
      if (key === 'destroyed') (out.destroyed ??= []).push(id);
      else put(key, id, value);
    }

    // RFC 8621 7.5: onSuccessUpdateEmail / onSuccessDestroyEmail, as an implicit Email/set.
    const update: Record<string, Args> = {};
    for (const [key, patch] of Object.entries((args.onSuccessUpdateEmail ?? {}) as Record<string, Args>)) {
      const emailId = succeeded.get(key) ?? succeeded.get(resolveId(key, context));
      if (emailId !== undefined) update[emailId] = patch;
    }
    const destroy: string[] = [];
    for (const key of (Array.isArray(args.onSuccessDestroyEmail) ? args.onSuccessDestroyEmail : []) as string[]) {
      const emailId = succeeded.get(key) ?? succeeded.get(resolveId(key, context));
      if (emailId !== undefined) destroy.push(emailId);
    }
    if (Object.keys(update).length === 0 && destroy.length === 0) return out;
    context.view.invalidate();
    const emailAnswer = await emailSet({ accountId: context.accountId, update, destroy }, context);
    return [['EmailSubmission/set', out], ['Email/set', emailAnswer as Args]];
  };
}
