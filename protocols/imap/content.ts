// What SEARCH, SORT and THREAD need from message content: `contentMatches` answers the text
// keys (HEADER, FROM, ..., BODY, TEXT) through the content engineer's search API
// (MailboxApi.search, engine/search/README.md: Unicode-folded substrings, an exact index), and
// `summariesOf` gives the summaries parsed at delivery (sent dates, addresses, subjects,
// thread ids) in API-sized batches.

import { summariesPerCallMax, type ContentCriterion, type MailboxApi, type MessageContent } from '../../engine/api.js';
import { ok, type Result } from '../../engine/errors.js';

/** One text key of a SEARCH. */
export type ContentQuery = { readonly key: 'header'; readonly name: string; readonly value: string } | { readonly key: 'body' | 'text'; readonly value: string };

export interface ContentScope {
  readonly api: MailboxApi;
  readonly mailboxId: string;
  readonly folder: string;
}

const ownFields = new Set(['subject', 'from', 'to', 'cc', 'bcc']);

function criterionOf(query: ContentQuery): ContentCriterion {
  if (query.key !== 'header') return { key: query.key, value: query.value };
  const name = query.name.toLowerCase();
  // SUBJECT/FROM/TO/CC/BCC have their own index fields; other headers go by name.
  if (ownFields.has(name)) return { key: name as 'subject' | 'from' | 'to' | 'cc' | 'bcc', value: query.value };
  return { key: 'header', name: query.name, value: query.value };
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

/** The UIDs among `uids` whose content matches `query`. */
export async function contentMatches(scope: ContentScope, query: ContentQuery, uids: readonly number[]): Promise<Result<Set<number>>> {
  if (uids.length === 0) return ok(new Set());
  const found = await scope.api.search(scope.mailboxId, scope.folder, criterionOf(query), { uids });
  if (!found.ok) return found;
  return ok(new Set(found.value));
}
