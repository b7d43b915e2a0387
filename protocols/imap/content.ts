// What SEARCH, SORT and THREAD need from message content, behind two functions that can be
// swapped for the content engineer's search API (MailboxApi.search, engine/search/README.md)
// once it is on main: `contentMatches` (HEADER/FROM/.../BODY/TEXT) and `summariesOf` (sent
// dates, addresses, subjects, thread ids). Today both go through the mailbox API's content
// reads: the summaries parsed at delivery, the header section, and the decoded text parts.

import { decodeWords, summariesPerCallMax, type BodyPart, type MailboxApi, type MessageContent } from '../../engine/api.js';
import { ok, type Result } from '../../engine/errors.js';

/** The same shape as the engine's ContentCriterion leaf keys, so the swap is one call. */
export type ContentQuery = { readonly key: 'header'; readonly name: string; readonly value: string } | { readonly key: 'body' | 'text'; readonly value: string };

export interface ContentScope {
  readonly api: MailboxApi;
  readonly mailboxId: string;
  readonly folder: string;
}

/** Summaries of `uids` by UID (expunged ones left out), fetched in API-sized batches. */
export async function summariesOf(scope: ContentScope, uids: readonly number[]): Promise<Result<Map<number, MessageContent>>> {
  const out = new Map<number, MessageContent>();
  for (let at = 0; at < uids.length; at += summariesPerCallMax) {
    const got = await scope.api.summaries(scope.mailboxId, scope.folder, uids.slice(at, at + summariesPerCallMax));
    if (!got.ok) return got;
    for (const m of got.value) out.set(m.uid, m);
  }
  return ok(out);
}

/** Case-insensitive (Unicode) substring, the semantics of RFC 9051 §6.4.4 for strings. */
function contains(haystack: string, needle: string): boolean {
  return haystack.toLowerCase().includes(needle.toLowerCase());
}

/** Unfolded, decoded header fields of a header section. */
function headerFieldsOf(bytes: Uint8Array): Array<[string, string]> {
  const text = Buffer.from(bytes).toString('utf8').replace(/\r?\n[ \t]+/g, ' ');
  const fields: Array<[string, string]> = [];
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.push([line.slice(0, colon).trim().toLowerCase(), decodeWords(line.slice(colon + 1).trim())]);
  }
  return fields;
}

function textParts(part: BodyPart, out: string[]): void {
  if (part.children.length > 0) for (const child of part.children) textParts(child, out);
  else if (part.message !== null) textParts(part.message.body, out);
  else if (part.type.toLowerCase() === 'text') out.push(part.partId === '' ? '1' : part.partId);
}

/** The UIDs among `uids` whose content matches `query`. */
export async function contentMatches(scope: ContentScope, query: ContentQuery, uids: readonly number[]): Promise<Result<Set<number>>> {
  const matched = new Set<number>();
  const summaries = query.key === 'header' ? null : await summariesOf(scope, uids);
  if (summaries !== null && !summaries.ok) return summaries;
  for (const uid of uids) {
    let hit = false;
    if (query.key === 'header' || query.key === 'text') {
      const header = await scope.api.readPart(scope.mailboxId, scope.folder, uid, { path: [], specifier: 'HEADER' });
      if (!header.ok) {
        if (header.code === 'NO_SUCH_MESSAGE') continue;
        return header;
      }
      const fields = header.value === null ? [] : headerFieldsOf(header.value);
      if (query.key === 'header') {
        const name = query.name.toLowerCase();
        hit = fields.some(([n, v]) => n === name && (query.value === '' || contains(v, query.value)));
      } else {
        hit = fields.some(([n, v]) => contains(`${n}: ${v}`, query.value));
      }
    }
    if (!hit && (query.key === 'body' || query.key === 'text') && summaries !== null) {
      const content = summaries.value.get(uid);
      if (content === undefined) continue;
      const partIds: string[] = [];
      textParts(content.summary.body, partIds);
      if (partIds.length > 0) {
        const values = await scope.api.bodyValues(scope.mailboxId, scope.folder, uid, partIds);
        if (!values.ok) {
          if (values.code === 'NO_SUCH_MESSAGE') continue;
          return values;
        }
        hit = Object.values(values.value).some((v) => contains(v.value, query.value));
      }
    }
    if (hit) matched.add(uid);
  }
  return ok(matched);
}
