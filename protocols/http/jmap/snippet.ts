// SearchSnippet/get (RFC 8621 sec. 5): for each Email, its subject and a piece of its body text
// with the terms of the filter's text, subject and body conditions (outside NOT) marked
// `<mark>...</mark>`, everything else HTML-escaped; null when nothing matched there. Which
// Emails match in their body is asked of the engine's content search (MailboxApi.search), so
// the preview agrees with Email/query's text and body filters; the text shown comes from the
// body values of the Email's text parts.

import { type ContentCriterion, htmlToText, partsById } from '../../../engine/api.js';
import { type EmailRef, unwrap } from './account.js';
import { type Args, type Method, MethodError, checkAccount, idList, jmapLimits } from './core.js';

/** Characters of body text shown around the first match. */
export const snippetPreviewChars = 200;
/** Body text read per Email to find a match (UTF-8 bytes). */
export const snippetBodyBytesMax = 256 * 1024;
/** Terms taken from one filter. */
export const snippetTermsMax = 16;

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The filter's terms for the subject and for the body (conditions under NOT are left out). */
export function snippetTerms(filter: unknown): { subject: string[]; body: string[] } {
  const subject: string[] = [];
  const body: string[] = [];
  const visit = (f: Args | null | undefined, depth: number): void => {
    if (f === null || f === undefined || typeof f !== 'object' || depth > 16) return;
    if (typeof f.operator === 'string') {
      if (f.operator !== 'NOT' && Array.isArray(f.conditions)) for (const c of f.conditions as Args[]) visit(c, depth + 1);
      return;
    }
    for (const [key, value] of Object.entries(f)) {
      if (typeof value !== 'string' || value.trim() === '') continue;
      if (key === 'text' || key === 'subject') subject.push(value.trim());
      if (key === 'text' || key === 'body') body.push(value.trim());
    }
  };
  visit(filter as Args, 0);
  return { subject: [...new Set(subject)].slice(0, snippetTermsMax), body: [...new Set(body)].slice(0, snippetTermsMax) };
}

/** `text` HTML-escaped with every case-insensitive occurrence of a term in <mark>; null when none occurs. */
export function highlight(text: string, terms: readonly string[]): string | null {
  const lower = text.toLowerCase();
  const marks: Array<[number, number]> = [];
  for (const term of terms) {
    const t = term.toLowerCase();
    for (let at = lower.indexOf(t); at >= 0; at = lower.indexOf(t, at + t.length)) marks.push([at, at + t.length]);
  }
  if (marks.length === 0) return null;
  marks.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let out = '';
  let done = 0;
  for (const [start, end] of marks) {
    if (end <= done) continue;
    const from = Math.max(start, done);
    out += `${escapeHtml(text.slice(done, from))}<mark>${escapeHtml(text.slice(from, end))}</mark>`;
    done = end;
  }
  return out + escapeHtml(text.slice(done));
}

/** A window of the text around its first match, whole words where possible. */
export function excerpt(text: string, terms: readonly string[]): string | null {
  const flat = text.replace(/\s+/g, ' ').trim();
  const lower = flat.toLowerCase();
  const first = Math.min(...terms.map((t) => lower.indexOf(t.toLowerCase())).filter((i) => i >= 0));
  if (!Number.isFinite(first)) return null;
  let start = Math.max(0, first - Math.floor(snippetPreviewChars / 4));
  if (start > 0) start = flat.indexOf(' ', start) + 1 || start;
  const end = Math.min(flat.length, start + snippetPreviewChars);
  return highlight(flat.slice(start, end), terms);
}

export const searchSnippetGet: Method = async (args, context) => {
  checkAccount(args, context);
  const view = context.view;
  const ids = idList(args.emailIds, 'emailIds', context, jmapLimits.maxObjectsInGet);
  if (ids === null) throw new MethodError('invalidArguments', 'emailIds is required');
  const terms = snippetTerms(args.filter);
  const refs: EmailRef[] = [];
  const notFound: string[] = [];
  for (const id of ids) {
    const ref = await view.email(id);
    if (ref === null) notFound.push(id);
    else refs.push(ref);
  }
  const contents = terms.subject.length > 0 ? await view.contentsOf(refs) : new Map();
  // Which Emails the engine's content search finds the body terms in, per folder.
  const bodyMatches = new Set<string>();
  if (terms.body.length > 0) {
    const byFolder = new Map<string, EmailRef[]>();
    for (const ref of refs) byFolder.set(ref.folder.name, [...(byFolder.get(ref.folder.name) ?? []), ref]);
    const criterion: ContentCriterion = terms.body.length === 1 ? { key: 'body', value: terms.body[0]! } : { key: 'or', of: terms.body.map((value) => ({ key: 'body', value }) as const) };
    for (const [folder, group] of byFolder) {
      const found = new Set(unwrap(await view.api.search(view.mailboxId, folder, criterion, { uids: group.map((r) => r.info.uid) })));
      for (const ref of group) if (found.has(ref.info.uid)) bodyMatches.add(ref.id);
    }
  }
  const list: Args[] = [];
  for (const ref of refs) {
    const subjectText = contents.get(ref.id)?.summary.envelope.subjectDecoded ?? null;
    const subject = subjectText === null ? null : highlight(subjectText, terms.subject);
    let preview: string | null = null;
    if (bodyMatches.has(ref.id)) {
      const [content] = unwrap(await view.api.summaries(view.mailboxId, ref.folder.name, [ref.info.uid]));
      const partIds = content?.summary.textBody ?? [];
      const values = partIds.length === 0 ? {} : unwrap(await view.api.bodyValues(view.mailboxId, ref.folder.name, ref.info.uid, partIds, { bytesMax: snippetBodyBytesMax }));
      // An HTML part (a message without a text/plain one) is shown as its text.
      const parts = content === undefined ? new Map() : partsById(content.summary.body);
      const texts = Object.entries(values).map(([partId, v]) => (parts.get(partId)?.subtype === 'html' ? htmlToText(v.value) : v.value));
      preview = excerpt(texts.join('\n'), terms.body);
    }
    list.push({ emailId: ref.id, subject, preview });
  }
  return { accountId: context.accountId, list, notFound: notFound.length === 0 ? null : notFound };
};
