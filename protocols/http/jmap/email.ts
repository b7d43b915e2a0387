// Email/get, changes, query, queryChanges, set, import and Thread/get (RFC 8621 sec. 3-4)
// over the account view. The content comes from the summaries parsed at delivery
// (engine/mime/README.md): envelope, body structure, JMAP body lists, preview; body values
// from the API's bodyValues; raw headers from the stored bytes.

import { type AddressEntry, type BodyPart, type BodyValue, type MessageContent, type MessageSummary, type TxOp, bodyValuesOf, decodeWords, isGroup, parseMessage, partsById } from '../../../engine/api.js';
import { type AccountView, type EmailRef, type Folder, flagOf, keywordsOf, parseState, unwrap } from './account.js';
import { blobIdOf, type BlobStore } from './blobs.js';
import { type Args, type Method, type MethodContext, MethodError, beginSet, bodyValueBytesDefault, checkAccount, checkState, idList, jmapLimits, resolveId, setArguments, setResponse } from './core.js';
import { setErrorOf } from './errors.js';
import { buildMessage } from './message.js';

export const emailPropertiesDefault = [
  'id', 'blobId', 'threadId', 'mailboxIds', 'keywords', 'size', 'receivedAt', 'messageId', 'inReplyTo', 'references', 'sender', 'from', 'to', 'cc', 'bcc', 'replyTo',
  'subject', 'sentAt', 'hasAttachment', 'preview', 'bodyValues', 'textBody', 'htmlBody', 'attachments',
];
const emailPropertiesAll = [...emailPropertiesDefault, 'headers', 'bodyStructure'];
const bodyPropertiesDefault = ['partId', 'blobId', 'size', 'name', 'type', 'charset', 'disposition', 'cid', 'language', 'location'];
const bodyPropertiesAll = [...bodyPropertiesDefault, 'headers', 'subParts'];

export const utcDate = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

function dateWithOffset(ms: number, offsetMinutes: number | null): string {
  if (offsetMinutes === null) return utcDate(ms);
  const local = new Date(Math.floor(ms / 1000) * 1000 + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

function addresses(entries: readonly AddressEntry[]): Array<{ name: string | null; email: string }> | null {
  const out: Array<{ name: string | null; email: string }> = [];
  for (const entry of entries) {
    for (const a of isGroup(entry) ? entry.addresses : [entry]) out.push({ name: a.nameDecoded, email: a.email });
  }
  return out.length === 0 ? null : out;
}

/** Header fields of an entity: [name as written, raw value after the colon]. */
export function rawHeaders(bytes: Uint8Array, start: number, end: number): Array<{ name: string; value: string }> {
  const text = Buffer.from(bytes.subarray(start, end)).toString('latin1');
  const out: Array<{ name: string; value: string }> = [];
  for (const field of text.split(/\r?\n(?![ \t])/)) {
    const colon = field.indexOf(':');
    if (colon <= 0) continue;
    out.push({ name: field.slice(0, colon).trim(), value: Buffer.from(field.slice(colon + 1), 'latin1').toString('utf8') });
  }
  return out;
}

function headerForm(value: string, form: string): unknown {
  switch (form) {
    case 'asRaw':
      return value;
    case 'asText':
      return decodeWords(value.replace(/\r?\n/g, '').trim());
    case 'asMessageIds': {
      const ids = [...value.matchAll(/<([^>]+)>/g)].map((m) => m[1]!);
      return ids.length === 0 ? null : ids;
    }
    case 'asURLs': {
      const urls = [...value.matchAll(/<([^>]+)>/g)].map((m) => m[1]!);
      return urls.length === 0 ? null : urls;
    }
    case 'asDate': {
      const ms = Date.parse(value.trim());
      return Number.isNaN(ms) ? null : utcDate(ms);
    }
    case 'asAddresses':
      return value.split(',').map((part) => {
        const match = /^\s*(?:"?([^"<]*?)"?\s*)?<([^>]+)>\s*$/.exec(part);
        return match === null ? { name: null, email: part.trim() } : { name: match[1] ? decodeWords(match[1]) : null, email: match[2]! };
      });
    default:
      throw new MethodError('invalidArguments', `unknown header form ${form}`);
  }
}

/** `header:Name[:asForm][:all]` → [name, form, all]; null when not a header property. */
function headerProperty(property: string): { name: string; form: string; all: boolean } | null {
  if (!property.startsWith('header:')) return null;
  const parts = property.split(':').slice(1);
  const all = parts[parts.length - 1] === 'all';
  if (all) parts.pop();
  if (parts.length === 0 || parts.length > 2 || parts[0] === '') throw new MethodError('invalidArguments', `bad property ${property}`);
  return { name: parts[0]!, form: parts[1] ?? 'asRaw', all };
}

function bodyPart(part: BodyPart, source: EmailSource, properties: readonly string[], bytes: Uint8Array | null): Args {
  const out: Args = {};
  const multipart = part.type === 'multipart';
  for (const p of properties) {
    if (p === 'partId') out.partId = multipart ? null : part.partId || '1';
    else if (p === 'blobId') out.blobId = multipart ? null : source.partBlobId(part.partId || '1');
    else if (p === 'size') out.size = multipart ? 0 : part.decodedSizeBytes;
    else if (p === 'name') out.name = part.name;
    else if (p === 'type') out.type = `${part.type}/${part.subtype}`;
    else if (p === 'charset') out.charset = part.charset;
    else if (p === 'disposition') out.disposition = part.disposition?.type ?? null;
    else if (p === 'cid') out.cid = part.cid;
    else if (p === 'language') out.language = part.language;
    else if (p === 'location') out.location = part.location;
    else if (p === 'headers') out.headers = bytes === null ? [] : rawHeaders(bytes, part.headerStart, part.bodyStart);
    else if (p === 'subParts') out.subParts = multipart ? part.children.map((c) => bodyPart(c, source, properties, bytes)) : null;
  }
  return out;
}

function propertyList(value: unknown, all: readonly string[], fallback: readonly string[], name: string): string[] {
  if (value === undefined || value === null) return [...fallback];
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string')) throw new MethodError('invalidArguments', `${name} must be a list`);
  for (const p of value as string[]) if (!all.includes(p) && headerProperty(p) === null) throw new MethodError('invalidArguments', `unknown property ${p}`);
  return value as string[];
}

/** Where an Email object's content comes from: a stored message (ref), or a blob parsed by Email/parse (no ref). */
interface EmailSource {
  readonly ref: EmailRef | null;
  readonly blobId: string;
  readonly sizeBytes: number;
  partBlobId(partId: string): string;
  bytes(): Promise<Uint8Array>;
  bodyValues(partIds: readonly string[], bytesMax: number): Promise<Record<string, BodyValue>>;
}

function storedSource(ref: EmailRef, view: AccountView): EmailSource {
  const { api, mailboxId } = view;
  return {
    ref,
    blobId: blobIdOf(ref.folder.folderId, ref.info.uid),
    sizeBytes: ref.info.sizeBytes,
    partBlobId: (partId) => blobIdOf(ref.folder.folderId, ref.info.uid, partId),
    bytes: async () => unwrap(await api.readMessage(mailboxId, ref.folder.name, ref.info.uid)),
    bodyValues: async (partIds, bytesMax) => unwrap(await api.bodyValues(mailboxId, ref.folder.name, ref.info.uid, partIds, { bytesMax })),
  };
}

/** `summary` is undefined when only listing properties are asked for (no summary read). */
async function emailObject(source: EmailSource, maybeSummary: MessageSummary | undefined, properties: readonly string[], args: Args): Promise<Args> {
  const ref = source.ref;
  // Read only for content properties, which are asked for only when there is a summary.
  const summary = maybeSummary as MessageSummary;
  const env = summary?.envelope;
  const out: Args = { id: ref?.id ?? null };
  const bodyProperties = propertyList(args.bodyProperties, bodyPropertiesAll, bodyPropertiesDefault, 'bodyProperties');
  const needsBytes = properties.includes('headers') || properties.some((p) => p.startsWith('header:')) || bodyProperties.includes('headers');
  const bytes = needsBytes ? await source.bytes() : null;
  const parts = summary === undefined ? new Map<string, BodyPart>() : partsById(summary.body);
  const partsOf = (ids: readonly string[]) => ids.map((id) => parts.get(id)).filter((p) => p !== undefined).map((p) => bodyPart(p!, source, bodyProperties, bytes));
  for (const p of properties) {
    switch (p) {
      case 'id': break;
      case 'blobId': out.blobId = source.blobId; break;
      case 'threadId': out.threadId = ref?.info.threadId ?? null; break;
      case 'mailboxIds': out.mailboxIds = ref === null ? null : Object.fromEntries(ref.copies.map((c) => [c.folder.id, true])); break;
      case 'keywords': out.keywords = ref === null ? null : keywordsOf(ref.info.flags); break;
      case 'size': out.size = source.sizeBytes; break;
      case 'receivedAt': out.receivedAt = ref === null ? null : utcDate(ref.info.internalDateMs); break;
      case 'messageId': out.messageId = summary.thread.messageId === null ? null : [summary.thread.messageId]; break;
      case 'inReplyTo': out.inReplyTo = summary.thread.inReplyTo.length === 0 ? null : summary.thread.inReplyTo; break;
      case 'references': out.references = summary.thread.references.length === 0 ? null : summary.thread.references; break;
      case 'sender': out.sender = addresses(env.sender); break;
      case 'from': out.from = addresses(env.from); break;
      case 'to': out.to = addresses(env.to); break;
      case 'cc': out.cc = addresses(env.cc); break;
      case 'bcc': out.bcc = addresses(env.bcc); break;
      case 'replyTo': out.replyTo = addresses(env.replyTo); break;
      case 'subject': out.subject = env.subjectDecoded; break;
      case 'sentAt': out.sentAt = env.dateMs === null ? null : dateWithOffset(env.dateMs, env.dateOffsetMinutes); break;
      case 'hasAttachment': out.hasAttachment = summary.hasAttachment; break;
      case 'preview': out.preview = summary.preview; break;
      case 'textBody': out.textBody = partsOf(summary.textBody); break;
      case 'htmlBody': out.htmlBody = partsOf(summary.htmlBody); break;
      case 'attachments': out.attachments = partsOf(summary.attachments); break;
      case 'bodyStructure': out.bodyStructure = bodyPart(summary.body, source, [...bodyProperties, 'subParts'], bytes); break;
      case 'headers': out.headers = rawHeaders(bytes!, 0, summary.body.bodyStart); break;
      case 'bodyValues': {
        const ids = new Set<string>();
        if (args.fetchTextBodyValues === true || args.fetchAllBodyValues === true) summary.textBody.forEach((id) => ids.add(id));
        if (args.fetchHTMLBodyValues === true || args.fetchAllBodyValues === true) summary.htmlBody.forEach((id) => ids.add(id));
        const bytesMax = typeof args.maxBodyValueBytes === 'number' && args.maxBodyValueBytes > 0 ? args.maxBodyValueBytes : bodyValueBytesDefault;
        const textual = [...ids].filter((id) => parts.get(id)?.type === 'text');
        out.bodyValues = textual.length === 0 ? {} : await source.bodyValues(textual, bytesMax);
        break;
      }
      default: {
        const header = headerProperty(p)!;
        const values = rawHeaders(bytes!, 0, summary.body.bodyStart).filter((h) => h.name.toLowerCase() === header.name.toLowerCase()).map((h) => headerForm(h.value, header.form));
        out[p] = header.all ? values : (values[values.length - 1] ?? null);
      }
    }
  }
  return out;
}

export const emailGet: Method = async (args, context) => {
  checkAccount(args, context);
  const view = context.view;
  const ids = idList(args.ids, 'ids', context, jmapLimits.maxObjectsInGet);
  const properties = propertyList(args.properties, emailPropertiesAll, emailPropertiesDefault, 'properties');
  const state = await view.state();
  let refs: EmailRef[];
  const notFound: string[] = [];
  if (ids === null) {
    refs = await view.emails();
    if (refs.length > jmapLimits.maxObjectsInGet) throw new MethodError('requestTooLarge', `more than ${jmapLimits.maxObjectsInGet} emails: ask by ids`);
  } else {
    refs = [];
    for (const id of ids) {
      const ref = await view.email(id);
      if (ref === null) notFound.push(id);
      else refs.push(ref);
    }
  }
  const light = properties.every((p) => ['id', 'threadId', 'mailboxIds', 'keywords', 'size', 'receivedAt', 'blobId'].includes(p));
  const contents = light ? new Map<string, MessageContent>() : await view.contentsOf(refs);
  const list: Args[] = [];
  for (const ref of refs) {
    const content = contents.get(ref.id);
    if (content === undefined && !light) {
      notFound.push(ref.id);
      continue;
    }
    list.push(await emailObject(storedSource(ref, view), content?.summary, properties, args));
  }
  return { accountId: context.accountId, state, list, notFound };
};

/** Created, updated and destroyed Email ids since a state (see account.ts for the state string). */
async function changesSince(sinceState: unknown, view: AccountView): Promise<{ newState: string; created: string[]; updated: string[]; destroyed: string[] }> {
  const since = parseState(sinceState);
  const newState = await view.state();
  const now = parseState(newState)!;
  if (since === null || since.modseq > now.modseq) throw new MethodError('cannotCalculateChanges', 'unknown sinceState');
  const created: string[] = [];
  const updated: string[] = [];
  const destroyed: string[] = [];
  if (since.modseq === now.modseq) return { newState, created, updated, destroyed };
  const folders = await view.folders();
  for (const [folderId, uidNext] of since.uidNext) {
    // A folder deleted since: its messages' UIDs are gone with it.
    if (!now.uidNext.has(folderId) && uidNext > 1) throw new MethodError('cannotCalculateChanges', 'a mailbox with emails was deleted since that state');
  }
  // An Email existed then if one of its messages did: a UID below the folder's UIDNEXT of then,
  // still there or expunged since. Ids of changed and expunged messages are the candidates.
  const existed = new Set<string>();
  const touched = new Set<string>();
  for (const folder of folders) {
    const uidNextThen = since.uidNext.get(folder.folderId) ?? 1;
    if (folder.modseqHighest <= since.modseq && uidNextThen === folder.uidNext) continue;
    const listing = await view.listing(folder, since.modseq);
    // The folder's expunge history no longer reaches back to that state: the client must resync.
    if (listing.vanishedIncomplete === true) throw new MethodError('cannotCalculateChanges', 'too old a state: expunges since then are no longer known');
    for (const m of listing.messages) touched.add(m.emailId);
    listing.vanished.forEach((uid, i) => {
      const id = listing.vanishedEmailIds?.[i] ?? null;
      if (id === null) throw new MethodError('cannotCalculateChanges', 'an expunged message of that time has no known email id');
      touched.add(id);
      if (uid < uidNextThen) existed.add(id);
    });
  }
  if (touched.size === 0) return { newState, created, updated, destroyed };
  const current = await view.emails();
  const nowIds = new Set(current.map((e) => e.id));
  for (const email of current) {
    if (!touched.has(email.id)) continue;
    if (email.copies.some((c) => c.info.uid < (since.uidNext.get(c.folder.folderId) ?? 1))) existed.add(email.id);
  }
  for (const id of touched) {
    if (nowIds.has(id)) (existed.has(id) ? updated : created).push(id);
    else if (existed.has(id)) destroyed.push(id);
  }
  return { newState, created, updated, destroyed };
}

export const emailChanges: Method = async (args, context) => {
  checkAccount(args, context);
  const changes = await changesSince(args.sinceState, context.view);
  const maxChanges = typeof args.maxChanges === 'number' ? args.maxChanges : null;
  if (maxChanges !== null && maxChanges < 1) throw new MethodError('invalidArguments', 'maxChanges must be positive');
  if (maxChanges !== null && changes.created.length + changes.updated.length + changes.destroyed.length > maxChanges) {
    throw new MethodError('cannotCalculateChanges', 'more changes than maxChanges: resynchronize');
  }
  return { accountId: context.accountId, oldState: args.sinceState, hasMoreChanges: false, ...changes };
};

// ---- query ----

const filterKeys = ['inMailbox', 'inMailboxOtherThan', 'before', 'after', 'minSize', 'maxSize', 'allInThreadHaveKeyword', 'someInThreadHaveKeyword', 'noneInThreadHaveKeyword',
  'hasKeyword', 'notKeyword', 'hasAttachment', 'text', 'from', 'to', 'cc', 'bcc', 'subject', 'body', 'header'];
const contentKeys = new Set(['hasAttachment', 'text', 'from', 'to', 'cc', 'bcc', 'subject', 'body', 'header']);
const sortKeys = ['receivedAt', 'size', 'from', 'to', 'subject', 'sentAt', 'hasKeyword', 'id'];

/** Refuses an unknown condition or operator even when there is nothing to match against. */
function checkFilter(filter: Args, depth = 0): void {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter) || depth > 16) throw new MethodError('invalidArguments', 'a filter is an object (nested at most 16 deep)');
  if (typeof filter.operator === 'string') {
    if (!['AND', 'OR', 'NOT'].includes(filter.operator) || !Array.isArray(filter.conditions)) throw new MethodError('unsupportedFilter', `operator ${filter.operator}`);
    for (const c of filter.conditions as Args[]) checkFilter(c, depth + 1);
    return;
  }
  for (const key of Object.keys(filter)) if (!filterKeys.includes(key)) throw new MethodError('unsupportedFilter', `filter ${key}`);
}

function needsContent(filter: Args | undefined, sort: Args[]): boolean {
  const visit = (f: Args): boolean => (typeof f.operator === 'string' ? ((f.conditions ?? []) as Args[]).some(visit) : Object.keys(f).some((k) => contentKeys.has(k)));
  return (filter !== undefined && filter !== null && visit(filter)) || sort.some((s) => ['from', 'to', 'subject', 'sentAt'].includes(s.property));
}

const addressText = (entries: readonly AddressEntry[]): string =>
  entries.flatMap((e) => (isGroup(e) ? e.addresses : [e])).map((a) => `${a.nameDecoded ?? ''} <${a.email}>`).join(', ').toLowerCase();

function matchesFilter(ref: EmailRef, content: MessageContent | undefined, filter: Args): boolean {
  if (typeof filter.operator === 'string') {
    const conditions = (filter.conditions ?? []) as Args[];
    if (!Array.isArray(conditions)) throw new MethodError('invalidArguments', 'conditions must be a list');
    if (filter.operator === 'AND') return conditions.every((c) => matchesFilter(ref, content, c));
    if (filter.operator === 'OR') return conditions.some((c) => matchesFilter(ref, content, c));
    if (filter.operator === 'NOT') return !conditions.some((c) => matchesFilter(ref, content, c));
    throw new MethodError('unsupportedFilter', `operator ${filter.operator}`);
  }
  const keywords = keywordsOf(ref.info.flags);
  const env = content?.summary.envelope;
  for (const [key, value] of Object.entries(filter)) {
    if (!filterKeys.includes(key)) throw new MethodError('unsupportedFilter', `filter ${key}`);
    const text = String(value).toLowerCase();
    const ok = (() => {
      switch (key) {
        case 'inMailbox': return ref.copies.some((c) => c.folder.id === value);
        case 'inMailboxOtherThan': return Array.isArray(value) && ref.copies.some((c) => !value.includes(c.folder.id));
        case 'before': return ref.info.internalDateMs < Date.parse(String(value));
        case 'after': return ref.info.internalDateMs >= Date.parse(String(value));
        case 'minSize': return ref.info.sizeBytes >= Number(value);
        case 'maxSize': return ref.info.sizeBytes < Number(value);
        case 'hasKeyword': case 'allInThreadHaveKeyword': case 'someInThreadHaveKeyword': return keywords[text] === true;
        case 'notKeyword': case 'noneInThreadHaveKeyword': return keywords[text] !== true;
        case 'hasAttachment': return content?.summary.hasAttachment === value;
        case 'from': return env !== undefined && addressText(env.from).includes(text);
        case 'to': return env !== undefined && addressText(env.to).includes(text);
        case 'cc': return env !== undefined && addressText(env.cc).includes(text);
        case 'bcc': return env !== undefined && addressText(env.bcc).includes(text);
        case 'subject': return (env?.subjectDecoded ?? '').toLowerCase().includes(text);
        case 'body': return (content?.summary.preview ?? '').toLowerCase().includes(text);
        case 'text': return env !== undefined && [env.subjectDecoded ?? '', addressText(env.from), addressText(env.to), addressText(env.cc), content!.summary.preview].join('\n').toLowerCase().includes(text);
        case 'header': {
          if (!Array.isArray(value) || value.length < 1) throw new MethodError('invalidArguments', 'header is [name, value?]');
          // The summary keeps the top-level fields' names (values need the bytes): presence only, unless the value is empty.
          const present = content?.summary.headers.some((h) => h.name === String(value[0]).toLowerCase()) ?? false;
          if (value.length > 1 && value[1] !== '') throw new MethodError('unsupportedFilter', 'header value matching is not supported');
          return present;
        }
        default: return false;
      }
    })();
    if (!ok) return false;
  }
  return true;
}

function compare(a: EmailRef, b: EmailRef, contents: Map<string, MessageContent>, sort: Args[]): number {
  for (const s of sort) {
    let x = 0;
    const ea = contents.get(a.id)?.summary.envelope;
    const eb = contents.get(b.id)?.summary.envelope;
    switch (s.property) {
      case 'receivedAt': x = a.info.internalDateMs - b.info.internalDateMs; break;
      case 'size': x = a.info.sizeBytes - b.info.sizeBytes; break;
      case 'from': x = addressText(ea?.from ?? []).localeCompare(addressText(eb?.from ?? [])); break;
      case 'to': x = addressText(ea?.to ?? []).localeCompare(addressText(eb?.to ?? [])); break;
      case 'subject': x = (ea?.subjectDecoded ?? '').localeCompare(eb?.subjectDecoded ?? ''); break;
      case 'sentAt': x = (ea?.dateMs ?? 0) - (eb?.dateMs ?? 0); break;
      case 'hasKeyword': x = Number(keywordsOf(a.info.flags)[String(s.keyword).toLowerCase()] === true) - Number(keywordsOf(b.info.flags)[String(s.keyword).toLowerCase()] === true); break;
      case 'id': x = a.id < b.id ? -1 : a.id > b.id ? 1 : 0; break;
    }
    if (x !== 0) return s.isAscending === false ? -x : x;
  }
  return a.folder.folderId - b.folder.folderId || a.info.uid - b.info.uid;
}

async function queryIds(args: Args, context: MethodContext): Promise<string[]> {
  const view = context.view;
  const sort = (args.sort ?? [{ property: 'receivedAt', isAscending: false }]) as Args[];
  if (!Array.isArray(sort)) throw new MethodError('invalidArguments', 'sort must be a list');
  for (const s of sort) if (!sortKeys.includes(s?.property)) throw new MethodError('unsupportedSort', `sort by ${s?.property}`);
  const filter = args.filter as Args | undefined;
  if (filter !== undefined && filter !== null) checkFilter(filter);
  let refs = await view.emails();
  if (filter?.inMailbox !== undefined && (await view.folderById(String(filter.inMailbox))) === undefined) refs = [];
  const contents = needsContent(filter, sort) ? await view.contentsOf(refs) : new Map<string, MessageContent>();
  if (filter !== undefined && filter !== null) refs = refs.filter((r) => matchesFilter(r, contents.get(r.id), filter));
  refs.sort((a, b) => compare(a, b, contents, sort));
  if (args.collapseThreads === true) {
    const seen = new Set<string>();
    refs = refs.filter((r) => !seen.has(r.info.threadId) && seen.add(r.info.threadId) !== undefined);
  }
  return refs.map((r) => r.id);
}

export const emailQuery: Method = async (args, context) => {
  checkAccount(args, context);
  const ids = await queryIds(args, context);
  let position = typeof args.position === 'number' ? args.position : 0;
  if (typeof args.anchor === 'string') {
    const index = ids.indexOf(args.anchor);
    if (index < 0) throw new MethodError('anchorNotFound', `anchor ${args.anchor} is not in the results`);
    position = Math.max(0, index + (typeof args.anchorOffset === 'number' ? args.anchorOffset : 0));
  } else if (position < 0) position = Math.max(0, ids.length + position);
  const limit = typeof args.limit === 'number' ? args.limit : null;
  if (limit !== null && limit < 0) throw new MethodError('invalidArguments', 'limit must not be negative');
  const page = ids.slice(position, limit === null ? undefined : position + limit);
  return {
    accountId: context.accountId,
    queryState: await context.view.state(),
    canCalculateChanges: true,
    position,
    ids: page,
    ...(args.calculateTotal === true ? { total: ids.length } : {}),
    ...(limit !== null ? { limit } : {}),
  };
};

/** RFC 8620 5.6: every changed or destroyed id is removed, and changed ones still matching are added at their index. */
export const emailQueryChanges: Method = async (args, context) => {
  checkAccount(args, context);
  const changes = await changesSince(args.sinceQueryState, context.view);
  const ids = await queryIds(args, context);
  const touched = new Set([...changes.created, ...changes.updated, ...changes.destroyed]);
  const added = ids.flatMap((id, index) => (touched.has(id) ? [{ id, index }] : []));
  const maxChanges = typeof args.maxChanges === 'number' ? args.maxChanges : null;
  if (maxChanges !== null && touched.size + added.length > maxChanges) throw new MethodError('tooManyChanges', 'more changes than maxChanges');
  return {
    accountId: context.accountId,
    oldQueryState: args.sinceQueryState,
    newQueryState: changes.newState,
    ...(args.calculateTotal === true ? { total: ids.length } : {}),
    removed: [...touched],
    added,
  };
};

// ---- set and import ----

function flagsOf(keywords: unknown, keep: readonly string[] = []): string[] {
  if (keywords === null || typeof keywords !== 'object' || Array.isArray(keywords)) throw new MethodError('invalidProperties', 'keywords must be an object', { properties: ['keywords'] });
  // Flags without a keyword (\Deleted) survive a keywords update.
  const flags = keep.filter((f) => f.toLowerCase() === '\\deleted');
  for (const [keyword, on] of Object.entries(keywords as Record<string, unknown>)) {
    if (on !== true) throw new MethodError('invalidProperties', 'keyword values must be true', { properties: [`keywords/${keyword}`] });
    const flag = flagOf(keyword);
    if (flag === null) throw new MethodError('invalidProperties', `bad keyword ${keyword}`, { properties: ['keywords'] });
    flags.push(flag);
  }
  return [...new Set(flags)];
}

/** The one mailbox of a `mailboxIds` value (maxMailboxesPerEmail is 1). */
async function singleFolder(mailboxIds: unknown, context: MethodContext): Promise<Folder> {
  if (mailboxIds === null || typeof mailboxIds !== 'object' || Array.isArray(mailboxIds)) throw new MethodError('invalidProperties', 'mailboxIds must be an object', { properties: ['mailboxIds'] });
  const ids = Object.entries(mailboxIds as Record<string, unknown>).filter(([, v]) => v === true).map(([id]) => resolveId(id, context));
  if (ids.length > 1) throw new MethodError('tooManyMailboxes', 'an email is in one mailbox here (maxMailboxesPerEmail 1)', { properties: ['mailboxIds'] });
  if (ids.length !== 1) throw new MethodError('invalidProperties', 'an email is in one mailbox', { properties: ['mailboxIds'] });
  const folder = await context.view.folderById(ids[0]!);
  if (folder === undefined) throw new MethodError('invalidProperties', `no mailbox ${ids[0]}`, { properties: ['mailboxIds'] });
  return folder;
}

function receivedAtMs(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = Date.parse(String(value));
  if (Number.isNaN(ms)) throw new MethodError('invalidProperties', 'receivedAt is not a date', { properties: ['receivedAt'] });
  return ms;
}

/** Appends `content` to `folder`; answers the created Email's id, blobId, threadId and size. */
async function appendEmail(context: MethodContext, folder: Folder, content: Uint8Array, flags: string[], internalDateMs: number | undefined): Promise<Args> {
  const view = context.view;
  const result = await view.api.commit({
    mailboxId: view.mailboxId,
    ops: [{ op: 'append', folder: folder.name, content, flags, ...(internalDateMs === undefined ? {} : { internalDateMs }) }],
  });
  view.invalidate();
  if (!result.ok) {
    const error = setErrorOf(result);
    throw new MethodError(error.type, error.description);
  }
  const appended = result.value.results[0] as { uid: number; emailId: string };
  const ref = await view.email(appended.emailId);
  return { id: appended.emailId, blobId: blobIdOf(folder.folderId, appended.uid), threadId: ref?.info.threadId ?? null, size: content.length };
}

/** Applies one Email/set update patch (keywords and mailboxIds, whole or by path). */
function patched(current: Record<string, true>, patch: Args, property: 'keywords' | 'mailboxIds'): Record<string, true> | null {
  let value: Record<string, true> | null = null;
  if (property in patch) value = { ...(patch[property] as Record<string, true>) };
  for (const [path, on] of Object.entries(patch)) {
    if (!path.startsWith(`${property}/`)) continue;
    value ??= { ...current };
    const key = path.slice(property.length + 1);
    if (on === true) value[key] = true;
    else if (on === null) delete value[key];
    else throw new MethodError('invalidProperties', `${path} must be true or null`, { properties: [path] });
  }
  return value;
}

export function emailSet(blobs: BlobStore): Method {
  return async (args, context) => {
    const view = context.view;
    const { creates, updates, destroys, out, put, refused } = await beginSet(args, context);

    for (const [creationId, object] of creates) {
      try {
        const folder = await singleFolder(object.mailboxIds, context);
        const content = await buildMessage(object, async (blobId) => blobs.read(context, blobId));
        const created = await appendEmail(context, folder, content, flagsOf(object.keywords ?? {}), receivedAtMs(object.receivedAt));
        context.createdIds.set(creationId, created.id);
        put('created', creationId, created);
      } catch (error) {
        refused('notCreated', creationId, error);
      }
    }

    for (const [rawId, patch] of updates) {
      const id = resolveId(rawId, context);
      try {
        const ref = await view.email(id);
        if (ref === null) throw new MethodError('notFound', `no email ${id}`);
        const other = Object.keys(patch).filter((k) => !k.startsWith('keywords') && !k.startsWith('mailboxIds'));
        if (other.length > 0) throw new MethodError('invalidProperties', 'only keywords and mailboxIds can change', { properties: other });
        const keywords = patched(keywordsOf(ref.info.flags), patch, 'keywords');
        const mailboxes = patched(Object.fromEntries(ref.copies.map((c) => [c.folder.id, true as const])), patch, 'mailboxIds');
        const ops: TxOp[] = [];
        if (keywords !== null) for (const c of ref.copies) ops.push({ op: 'store', folder: c.folder.name, uids: [c.info.uid], mode: 'set', flags: flagsOf(keywords, c.info.flags) });
        if (mailboxes !== null) {
          // One mailbox per Email (maxMailboxesPerEmail 1): the message moves there, keeping its id; other copies go.
          const target = await singleFolder(mailboxes, context);
          const kept = ref.copies.find((c) => c.folder.folderId === target.folderId);
          const mover = kept === undefined ? ref.copies[0]! : null;
          if (mover !== null) ops.push({ op: 'move', folder: mover.folder.name, uids: [mover.info.uid], to: target.name });
          for (const c of ref.copies) if (c !== kept && c !== mover) ops.push({ op: 'expunge', folder: c.folder.name, uids: [c.info.uid] });
        }
        if (ops.length > 0) {
          const result = await view.api.commit({ mailboxId: view.mailboxId, ops });
          view.invalidate();
          if (!result.ok) {
            put('notUpdated', id, setErrorOf(result));
            continue;
          }
        }
        put('updated', id, null);
      } catch (error) {
        refused('notUpdated', id, error);
      }
    }

    const byFolder = new Map<number, { folder: Folder; uids: number[] }>();
    const destroying: string[] = [];
    for (const rawId of destroys) {
      const id = resolveId(rawId, context);
      const ref = await view.email(id);
      if (ref === null) {
        put('notDestroyed', id, { type: 'notFound' });
        continue;
      }
      // Every message of the Email goes (an IMAP COPY may have made several).
      for (const c of ref.copies) {
        const entry = byFolder.get(c.folder.folderId) ?? { folder: c.folder, uids: [] };
        entry.uids.push(c.info.uid);
        byFolder.set(c.folder.folderId, entry);
      }
      destroying.push(id);
    }
    if (byFolder.size > 0) {
      const groups = [...byFolder.values()];
      const result = await view.api.commit({ mailboxId: view.mailboxId, ops: groups.map((g) => ({ op: 'expunge', folder: g.folder.name, uids: g.uids })) });
      view.invalidate();
      for (const id of destroying) result.ok ? (out.destroyed ??= []).push(id) : put('notDestroyed', id, setErrorOf(result));
    }
    out.newState = await view.state();
    return out;
  };
}

export function emailImport(blobs: BlobStore): Method {
  return async (args, context) => {
    const view = context.view;
    const oldState = await checkState(args, context);
    const emails = Object.entries((args.emails ?? {}) as Record<string, Args>);
    if (emails.length > jmapLimits.maxObjectsInSet) throw new MethodError('requestTooLarge', `at most ${jmapLimits.maxObjectsInSet} emails`);
    const out: Args = { accountId: context.accountId, oldState, created: null, notCreated: null };
    for (const [creationId, object] of emails) {
      try {
        if (typeof object.blobId !== 'string') throw new MethodError('invalidProperties', 'blobId is required', { properties: ['blobId'] });
        const content = await blobs.read(context, resolveId(object.blobId, context));
        if (content === null) throw new MethodError('blobNotFound', `no blob ${object.blobId}`, { notFound: [object.blobId] });
        const folder = await singleFolder(object.mailboxIds, context);
        const created = await appendEmail(context, folder, content.bytes, flagsOf(object.keywords ?? {}), receivedAtMs(object.receivedAt));
        context.createdIds.set(creationId, created.id);
        (out.created ??= {})[creationId] = created;
      } catch (error) {
        if (!(error instanceof MethodError) || error.type === 'serverUnavailable') throw error;
        (out.notCreated ??= {})[creationId] = { type: error.type, description: error.message, ...error.extra };
      }
    }
    out.newState = await view.state();
    return out;
  };
}

export const threadGet: Method = async (args, context) => {
  checkAccount(args, context);
  const ids = idList(args.ids, 'ids', context, jmapLimits.maxObjectsInGet);
  if (ids === null) throw new MethodError('requestTooLarge', 'ask for threads by id');
  const emails = await context.view.emails();
  const list: Args[] = [];
  const notFound: string[] = [];
  for (const id of ids) {
    const members = emails.filter((e) => e.info.threadId === id).sort((a, b) => a.info.internalDateMs - b.info.internalDateMs || a.info.uid - b.info.uid);
    if (members.length === 0) notFound.push(id);
    else list.push({ id, emailIds: members.map((m) => m.id) });
  }
  return { accountId: context.accountId, state: await context.view.state(), list, notFound };
};


/**
 * Email/copy (RFC 8621 4.7, RFC 8620 5.4). Only the user's own account is reachable, so the copy
 * is within it (fromAccountId may name it; any other is fromAccountNotFound): each created Email
 * is the source message appended to the mailboxIds given, with the keywords and receivedAt given
 * or the source's. onSuccessDestroyOriginal destroys the sources copied through an implicit
 * Email/set (answered as a second response), guarded by destroyFromIfInState.
 */
export function emailCopy(blobs: BlobStore): Method {
  const set = emailSet(blobs);
  return async (args, context) => {
    const view = context.view;
    if (typeof args.fromAccountId !== 'string') throw new MethodError('invalidArguments', 'fromAccountId is required');
    if (args.fromAccountId !== context.accountId) throw new MethodError('fromAccountNotFound', `no account ${args.fromAccountId}`);
    const oldState = await checkState(args, context);
    if (args.ifFromInState !== undefined && args.ifFromInState !== null && args.ifFromInState !== oldState) throw new MethodError('stateMismatch', 'ifFromInState does not match');
    const { creates } = setArguments({ create: args.create });
    const { out, put, refused } = setResponse(context.accountId, oldState);
    delete out.updated, delete out.destroyed, delete out.notUpdated, delete out.notDestroyed;
    out.fromAccountId = args.fromAccountId;
    const copied: string[] = [];
    for (const [creationId, object] of creates) {
      try {
        const unknown = Object.keys(object).filter((k) => !['id', 'mailboxIds', 'keywords', 'receivedAt'].includes(k));
        if (unknown.length > 0) throw new MethodError('invalidProperties', 'only id, mailboxIds, keywords and receivedAt may be given', { properties: unknown });
        if (typeof object.id !== 'string') throw new MethodError('invalidProperties', 'id is required', { properties: ['id'] });
        const sourceId = resolveId(object.id, context);
        const source = await view.email(sourceId);
        if (source === null) throw new MethodError('notFound', `no email ${sourceId}`);
        const folder = await singleFolder(object.mailboxIds, context);
        const bytes = unwrap(await view.api.readMessage(view.mailboxId, source.folder.name, source.info.uid));
        const flags = object.keywords === undefined ? source.info.flags.filter((f) => f.toLowerCase() !== '\\deleted') : flagsOf(object.keywords);
        const created = await appendEmail(context, folder, bytes, [...flags], receivedAtMs(object.receivedAt) ?? source.info.internalDateMs);
        context.createdIds.set(creationId, created.id);
        put('created', creationId, created);
        copied.push(sourceId);
      } catch (error) {
        refused('notCreated', creationId, error);
      }
    }
    out.newState = await view.state();
    if (args.onSuccessDestroyOriginal !== true || copied.length === 0) return out;
    // One account is both sides: destroyFromIfInState is checked against the state before the copy.
    const fromStateOk = args.destroyFromIfInState === undefined || args.destroyFromIfInState === null || args.destroyFromIfInState === oldState;
    const destroyed = await (fromStateOk ? set({ accountId: context.accountId, destroy: copied }, context) : Promise.reject(new MethodError('stateMismatch', 'destroyFromIfInState does not match'))).catch((error: unknown) => {
      if (!(error instanceof MethodError)) throw error;
      return ['error', { type: error.type, description: error.message, ...error.extra }] as [string, Args];
    });
    return [['Email/copy', out], Array.isArray(destroyed) ? (destroyed as [string, Args]) : ['Email/set', destroyed as Args]];
  };
}

/**
 * Email/parse (RFC 8621 4.9): blobs (uploads, stored messages or their message/rfc822 parts)
 * parsed by the engine's MIME parser without storing anything. id, mailboxIds, keywords,
 * receivedAt and threadId are null; part blobIds are the blob's id plus the part's number.
 */
export function emailParse(blobs: BlobStore): Method {
  return async (args, context) => {
    checkAccount(args, context);
    const blobIds = idList(args.blobIds, 'blobIds', context, jmapLimits.maxObjectsInGet) ?? [];
    const properties = propertyList(args.properties, emailPropertiesAll, emailParsePropertiesDefault, 'properties');
    const parsed: Record<string, Args> = {};
    const notParsable: string[] = [];
    const notFound: string[] = [];
    for (const blobId of blobIds) {
      const blob = await blobs.read(context, blobId);
      if (blob === null) {
        notFound.push(blobId);
        continue;
      }
      const summary = parseMessage(blob.bytes);
      if (summary.headers.length === 0) {
        notParsable.push(blobId);
        continue;
      }
      const source: EmailSource = {
        ref: null,
        blobId,
        sizeBytes: blob.bytes.length,
        partBlobId: (partId) => `${blobId}.${partId}`,
        bytes: async () => blob.bytes,
        bodyValues: async (partIds, bytesMax) => bodyValuesOf(blob.bytes, summary, partIds, bytesMax),
      };
      parsed[blobId] = await emailObject(source, summary, properties, args);
    }
    return { accountId: context.accountId, parsed: Object.keys(parsed).length === 0 ? null : parsed, notParsable: notParsable.length === 0 ? null : notParsable, notFound: notFound.length === 0 ? null : notFound };
  };
}

const emailParsePropertiesDefault = emailPropertiesDefault.filter((p) => !['id', 'mailboxIds', 'keywords', 'receivedAt', 'threadId', 'blobId', 'size'].includes(p));

/**
 * Thread/changes (RFC 8621 3.2) from the Email changes: the thread of a created Email is created
 * when all its Emails are new, else updated; threads of updated Emails are updated. A destroyed
 * Email's thread is no longer known (the API names expunges by UID), so changes that destroyed
 * Emails answer cannotCalculateChanges and the client refetches its threads.
 */
export const threadChanges: Method = async (args, context) => {
  checkAccount(args, context);
  const changes = await changesSince(args.sinceState, context.view);
  if (changes.destroyed.length > 0) throw new MethodError('cannotCalculateChanges', 'emails were destroyed since that state: refetch the threads');
  const emails = await context.view.emails();
  const threadOf = new Map(emails.map((e) => [e.id, e.info.threadId]));
  const createdIds = new Set(changes.created);
  const created = new Set<string>();
  const updated = new Set<string>();
  for (const id of [...changes.created, ...changes.updated]) {
    const thread = threadOf.get(id);
    if (thread === undefined) continue;
    const allNew = emails.every((e) => e.info.threadId !== thread || createdIds.has(e.id));
    (allNew ? created : updated).add(thread);
  }
  const maxChanges = typeof args.maxChanges === 'number' ? args.maxChanges : null;
  if (maxChanges !== null && created.size + updated.size > maxChanges) throw new MethodError('cannotCalculateChanges', 'more changes than maxChanges: resynchronize');
  return { accountId: context.accountId, oldState: args.sinceState, newState: changes.newState, hasMoreChanges: false, created: [...created], updated: [...updated], destroyed: [] };
};
