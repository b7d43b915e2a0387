// FETCH / UID FETCH (RFC 9051 §6.4.5): metadata from the view, ENVELOPE and BODYSTRUCTURE from
// the summaries parsed at delivery, BODY[section]<partial> and BINARY as slices through
// readPart, CHANGEDSINCE and VANISHED (RFC 7162). A non-PEEK body fetch sets \Seen first, and
// the reply then carries FLAGS. Replies are written as they are built, in pieces.

import { has } from '../../acl.js';
import { summariesPerCallMax, type MessageContent, type MessageInfo, type Section as MimeSection } from '../../../engine/api.js';
import type { Failure } from '../../../engine/errors.js';
import { fetchWriteBytes } from '../constants.js';
import { bodyStructureOf } from '../convert.js';
import { hasFlag, imapDateTime, writeFlagList } from '../format.js';
import type { ImapSession } from '../session.js';
import type { FlagLineItem } from '../selected.js';
import { encodeVanished, writeBodyStructure, writeFetchItemName, type EncodeOptions, type ResponseWriter } from '../wire/encoder.js';
import type { Command, FetchAttribute, Partial, Section } from '../wire/types.js';
import { handler, selectedOnly } from './handler.js';
import { inSequenceSet } from './sets.js';

type FetchCommand = Extract<Command, { kind: 'FETCH' }>;

const simple = (kind: 'UID' | 'MODSEQ'): FetchAttribute => ({ kind });

/** The parser has already expanded ALL/FAST/FULL into attributes; add the implied UID and MODSEQ. */
function expand(c: FetchCommand): FetchAttribute[] {
  const out: FetchAttribute[] = [...c.attributes];
  const has = (kind: string): boolean => out.some((a) => a.kind === kind);
  if (c.uid && !has('UID')) out.unshift(simple('UID'));
  if (c.changedSince !== undefined && !has('MODSEQ')) out.push(simple('MODSEQ'));
  return out;
}

/** Whether an attribute reads the body and so sets \Seen (RFC 9051 §6.4.5). */
function setsSeen(a: FetchAttribute): boolean {
  return ((a.kind === 'BODY[]' || a.kind === 'BINARY[]') && !a.peek) || a.kind === 'RFC822' || a.kind === 'RFC822.TEXT';
}

const toMime = (section: Section): MimeSection => ({
  path: section.part,
  ...(section.text === undefined ? {} : { specifier: section.text }),
  ...(section.fields.length > 0 ? { fields: section.fields } : {}),
});

function slice(bytes: Uint8Array, partial: Partial | undefined): Uint8Array {
  if (partial === undefined) return bytes;
  if (partial.offset >= bytes.length) return new Uint8Array(0);
  return bytes.subarray(partial.offset, Math.min(bytes.length, partial.offset + partial.count));
}

/** Attributes answered from the message's bytes (a round trip each), not from the view or the summary. */
const readsMessage = new Set<FetchAttribute['kind']>(['RFC822', 'RFC822.HEADER', 'RFC822.TEXT', 'BODY[]', 'BINARY[]', 'BINARY.SIZE']);

/** A message that vanished while we read it: skip it, the EXPUNGE follows later. */
class Gone extends Error {}

export const fetch = handler<'FETCH'>(selectedOnly, async (s, tag, c) => {
  const view = s.selected!;
  const policy = { expunges: c.uid };
  if (c.vanished && (!c.uid || !s.enabled.qresync || c.changedSince === undefined)) {
    await s.bad(tag, 'VANISHED needs UID FETCH, QRESYNC enabled and CHANGEDSINCE');
    return;
  }
  let uids = view.resolve(c.sequenceSet, c.uid);
  if (uids === null) {
    await s.bad(tag, 'Invalid message sequence number');
    return;
  }
  const attributes = expand(c);
  if (c.changedSince !== undefined || attributes.some((a) => a.kind === 'MODSEQ')) s.enabled.condstore = true;
  const { api, mailboxId, rights } = s.where();

  if (c.changedSince !== undefined) {
    const since = Number(c.changedSince);
    if (c.vanished) {
      const changes = await api.listMessages(mailboxId, view.name, { changedSince: since });
      if (changes.ok) {
        const max = Math.max(view.uidNext - 1, 1);
        const vanished = changes.value.vanished.filter((uid) => inSequenceSet(c.sequenceSet, uid, max));
        if (vanished.length > 0) await s.write(encodeVanished(vanished, true));
      }
    }
    uids = view.changedSince(uids, since);
  }

  // \Seen first, so the FLAGS we send are the new ones.
  const seenNow = new Set<number>();
  // RFC 4314 §4: without `s` a body fetch does not set \Seen (the flag is shared by everyone who reads the folder).
  if (!view.readOnly && has(rights, 's') && attributes.some(setsSeen)) {
    const unseen = uids.filter((uid) => {
      const info = view.infos.get(uid);
      return info !== undefined && !hasFlag(info, '\\Seen') && !view.pendingExpunge.has(uid);
    });
    if (unseen.length > 0) {
      const stored = await api.commit({ mailboxId, ops: [{ op: 'store', folder: view.name, uids: unseen, mode: 'add', flags: ['\\Seen'] }] });
      if (!stored.ok) {
        await s.fail(tag, stored, policy);
        return;
      }
      for (const uid of unseen) seenNow.add(uid);
      s.markDirty();
      await s.sync({ expunges: false }, { silent: seenNow });
    }
  }

  const needsSummary = attributes.some((a) => a.kind === 'ENVELOPE' || a.kind === 'BODY' || a.kind === 'BODYSTRUCTURE');
  const needsRead = attributes.some((a) => readsMessage.has(a.kind));
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    await s.write(out);
  };
  let failure: Failure | null = null;
  const envelopes = (content: MessageContent, options: EncodeOptions): Buffer => s.contentCache.envelope(mailboxId, content, options);
  const flagItems = needsSummary || needsRead || seenNow.size > 0 ? null : flagLineItems(attributes);

  for (let at = 0; at < uids.length && failure === null; at += summariesPerCallMax) {
    const batch = uids.slice(at, at + summariesPerCallMax);
    const summaries = new Map<number, MessageContent>();
    if (needsSummary) {
      const missing: number[] = [];
      for (const uid of batch) {
        const info = view.infos.get(uid);
        const cached = info === undefined ? undefined : s.contentCache.content(mailboxId, info.emailId, uid);
        if (cached === undefined) missing.push(uid);
        else summaries.set(uid, cached);
      }
      const got = missing.length === 0 ? null : await api.summaries(mailboxId, view.name, missing);
      if (got !== null && !got.ok) {
        failure = got;
        break;
      }
      for (const m of got?.value ?? []) {
        summaries.set(m.uid, m);
        s.contentCache.rememberContent(mailboxId, m);
      }
    }
    if (!needsRead) {
      // Nothing to read per message: the batch's lines are built in one writer, synchronously
      // (only UID, FLAGS and MODSEQ: straight from the view's columns into one buffer).
      let bytes: Buffer;
      if (flagItems !== null) bytes = view.fetchFlagLines(batch, flagItems);
      else {
        const w = s.writer();
        for (const uid of batch) {
          const info = view.infos.get(uid);
          const seq = view.seqOf(uid);
          if (info === undefined || seq === 0) continue;
          if (needsSummary && !summaries.has(uid)) continue; // expunged meanwhile
          w.raw(`* ${seq} FETCH (`);
          writeItems(w, attributes, info, summaries.get(uid), seenNow.has(uid), envelopes);
          w.raw(')').crlf();
        }
        bytes = w.toBuffer();
      }
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= fetchWriteBytes) await flush();
      continue;
    }
    for (const uid of batch) {
      const info = view.infos.get(uid);
      const seq = view.seqOf(uid);
      if (info === undefined || seq === 0) continue;
      if (needsSummary && !summaries.has(uid)) continue; // expunged meanwhile
      const w = s.writer().raw(`* ${seq} FETCH (`);
      try {
        await writeMessage(s, w, attributes, info, summaries.get(uid), seenNow.has(uid), envelopes);
      } catch (error) {
        if (error instanceof Gone) continue;
        if (error instanceof FetchFailure) {
          failure = error.failure;
          break;
        }
        throw error;
      }
      const bytes = w.raw(')').crlf().toBuffer();
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= fetchWriteBytes) await flush();
    }
  }
  await flush();
  if (failure !== null) await s.fail(tag, failure, policy);
  else await s.ok(tag, 'FETCH completed', undefined, policy);
});

/** The attributes as FlagLineItems when they are all ones the view's columns answer, else null. */
function flagLineItems(attributes: readonly FetchAttribute[]): FlagLineItem[] | null {
  const items: FlagLineItem[] = [];
  for (const a of attributes) {
    if (a.kind !== 'UID' && a.kind !== 'FLAGS' && a.kind !== 'MODSEQ') return null;
    items.push(a.kind);
  }
  return items;
}

class FetchFailure extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

/** A content's ENVELOPE as encoded (kept with the content in the session's ContentCache). */
type Envelopes = (content: MessageContent, options: EncodeOptions) => Buffer;

/** Writes the line's items in the attributes' order (all of them answered from the view and the summary). */
function writeItems(w: ResponseWriter, attributes: readonly FetchAttribute[], info: MessageInfo, content: MessageContent | undefined, seenNow: boolean, envelopes: Envelopes): void {
  let sentFlags = false;
  attributes.forEach((a, i) => {
    if (i > 0) w.sp();
    writeItem(w, a, info, content, envelopes);
    if (a.kind === 'FLAGS') sentFlags = true;
  });
  if (seenNow && !sentFlags) writeFlagList(attributes.length > 0 ? w.sp() : w, info.flags);
}

/** One item answered from the view or the summary (not one of readsMessage). */
function writeItem(w: ResponseWriter, a: FetchAttribute, info: MessageInfo, content: MessageContent | undefined, envelopes: Envelopes): void {
  switch (a.kind) {
    case 'UID':
      w.raw(`UID ${info.uid}`);
      break;
    case 'FLAGS':
      writeFlagList(w, info.flags);
      break;
    case 'INTERNALDATE':
      w.raw(`INTERNALDATE ${imapDateTime(info.internalDateMs)}`);
      break;
    case 'RFC822.SIZE':
      w.raw(`RFC822.SIZE ${info.sizeBytes}`);
      break;
    case 'MODSEQ':
      w.raw(`MODSEQ (${info.modseq})`);
      break;
    case 'EMAILID':
      w.raw(`EMAILID (${info.emailId})`);
      break;
    case 'THREADID':
      w.raw(`THREADID (${info.threadId})`);
      break;
    case 'SAVEDATE':
      w.raw('SAVEDATE NIL');
      break;
    case 'ENVELOPE':
      w.raw('ENVELOPE ').encoded(envelopes(content!, w.options));
      break;
    case 'BODY':
    case 'BODYSTRUCTURE':
      w.raw(`${a.kind} `);
      writeBodyStructure(w, bodyStructureOf(content!.summary.body), a.kind === 'BODYSTRUCTURE');
      break;
    default:
      throw new Error(`${a.kind} reads the message`);
  }
}

async function writeMessage(s: ImapSession, w: ResponseWriter, attributes: readonly FetchAttribute[], info: MessageInfo, content: MessageContent | undefined, seenNow: boolean, envelopes: Envelopes): Promise<void> {
  const { api, mailboxId } = s.where();
  const folder = s.selected!.name;
  let whole: Uint8Array | null = null;
  const readWhole = async (): Promise<Uint8Array> => {
    whole ??= s.contentCache.message(mailboxId, info.emailId) ?? null;
    if (whole !== null) return whole;
    const got = await api.readMessage(mailboxId, folder, info.uid);
    if (!got.ok) throw got.code === 'NO_SUCH_MESSAGE' || got.code === 'NO_SUCH_FOLDER' ? new Gone() : new FetchFailure(got);
    whole = got.value;
    s.contentCache.rememberMessage(mailboxId, info.emailId, whole);
    return whole;
  };
  const readPart = async (section: MimeSection, binary: boolean): Promise<Uint8Array | null> => {
    const got = await api.readPart(mailboxId, folder, info.uid, section, binary ? { binary: true } : {});
    if (!got.ok) throw got.code === 'NO_SUCH_MESSAGE' || got.code === 'NO_SUCH_FOLDER' ? new Gone() : new FetchFailure(got);
    return got.value;
  };

  let first = true;
  let sentFlags = false;
  const item = (): ResponseWriter => {
    if (!first) w.sp();
    first = false;
    return w;
  };
  for (const a of attributes) {
    switch (a.kind) {
      case 'RFC822':
        item().raw('RFC822 ').literal(await readWhole());
        break;
      case 'RFC822.HEADER':
        item().raw('RFC822.HEADER ').nstring(await readPart({ path: [], specifier: 'HEADER' }, false));
        break;
      case 'RFC822.TEXT':
        item().raw('RFC822.TEXT ').nstring(await readPart({ path: [], specifier: 'TEXT' }, false));
        break;
      case 'BODY[]': {
        const section = a.section;
        const bytes = section.part.length === 0 && section.text === undefined ? await readWhole() : await readPart(toMime(section), false);
        writeFetchItemName(item(), a);
        w.sp();
        if (bytes === null) w.raw('NIL');
        else w.literal(slice(bytes, a.partial));
        break;
      }
      case 'BINARY[]': {
        const bytes = a.part.length === 0 ? await readWhole() : await readPart({ path: a.part }, true);
        writeFetchItemName(item(), a);
        w.sp();
        if (bytes === null) w.raw('NIL');
        else w.literal(slice(bytes, a.partial));
        break;
      }
      case 'BINARY.SIZE': {
        const bytes = a.part.length === 0 ? await readWhole() : await readPart({ path: a.part }, true);
        writeFetchItemName(item(), a);
        w.raw(` ${bytes === null ? 0 : bytes.length}`);
        break;
      }
      default:
        writeItem(item(), a, info, content, envelopes);
        if (a.kind === 'FLAGS') sentFlags = true;
    }
  }
  if (seenNow && !sentFlags) writeFlagList(item(), info.flags);
}
