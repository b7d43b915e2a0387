// Address headers (RFC 5322 3.4, with the obsolete forms of 4.4): From, To, Cc, ... as lists
// of mailboxes and groups. Lenient by design: what cannot be read as an address is kept as
// text (IMAP gets MISSING_MAILBOX / MISSING_DOMAIN, as Dovecot sends), and nothing throws.

import { addressesMax } from './constants.js';
import { decodeWords } from './decode.js';
import { type Token, tokenize } from './header.js';
import type { AddressEntry, MailAddress } from './types.js';

const missingMailbox = 'MISSING_MAILBOX';
const missingDomain = 'MISSING_DOMAIN';

const isSpecial = (token: Token | undefined, text: string): boolean => token !== undefined && token.kind === 'special' && token.text === text;

/** Joins phrase words with single spaces (quoted strings and atoms alike). */
function phrase(tokens: readonly Token[]): string | null {
  const words = tokens.filter((t) => t.kind === 'atom' || t.kind === 'quoted').map((t) => t.text);
  const text = words.join(' ').trim();
  return text.length === 0 ? null : text;
}

/** addr-spec tokens (local-part "@" domain, dots and all) to mailbox and host. */
function addrSpec(tokens: readonly Token[]): { mailbox: string; host: string; email: string } {
  const words = tokens.filter((t) => t.kind !== 'comment');
  const at = words.findIndex((t) => isSpecial(t, '@'));
  const text = (list: readonly Token[]): string =>
    list.map((t) => (t.kind === 'quoted' ? (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$/.test(t.text) ? t.text : `"${t.text.replace(/(["\\])/g, '\\$1')}"`) : t.text)).join('');
  if (at < 0) {
    const raw = text(words);
    return { mailbox: raw.length > 0 ? raw : missingMailbox, host: missingDomain, email: raw };
  }
  const local = text(words.slice(0, at));
  const domain = text(words.slice(at + 1));
  return { mailbox: local.length > 0 ? local : missingMailbox, host: domain.length > 0 ? domain : missingDomain, email: `${local}@${domain}` };
}

function mailbox(tokens: readonly Token[]): MailAddress | null {
  if (tokens.length === 0) return null;
  const open = tokens.findIndex((t) => isSpecial(t, '<'));
  if (open >= 0) {
    let close = tokens.findIndex((t, k) => k > open && isSpecial(t, '>'));
    if (close < 0) close = tokens.length;
    let inner = tokens.slice(open + 1, close);
    // obs-route: "<@a,@b:user@host>" — the route is dropped.
    const colon = inner.findIndex((t) => isSpecial(t, ':'));
    if (colon >= 0 && isSpecial(inner[0], '@')) inner = inner.slice(colon + 1);
    const name = phrase(tokens.slice(0, open));
    const spec = addrSpec(inner);
    return { name, nameDecoded: name === null ? null : decodeWords(name), ...spec };
  }
  const words = tokens.filter((t) => t.kind !== 'comment');
  if (words.length === 0) return null;
  // JMAP 4.1.2.3: with no display name, a comment right after the addr-spec is the name.
  const last = tokens[tokens.length - 1]!;
  const name = last.kind === 'comment' && last.text.trim().length > 0 ? last.text.trim() : null;
  return { name, nameDecoded: name === null ? null : decodeWords(name), ...addrSpec(words) };
}

/** Splits tokens at top-level commas. */
function splitCommas(tokens: readonly Token[]): Token[][] {
  const out: Token[][] = [];
  let current: Token[] = [];
  let angle = false;
  for (const token of tokens) {
    if (isSpecial(token, '<')) angle = true;
    if (isSpecial(token, '>')) angle = false;
    if (isSpecial(token, ',') && !angle) {
      out.push(current);
      current = [];
    } else current.push(token);
  }
  out.push(current);
  return out;
}

/** An address header's value (unfolded) as mailboxes and groups. */
export function parseAddressList(value: string | null): AddressEntry[] {
  if (value === null) return [];
  const tokens = tokenize(value, '<>[]:;@,');
  const entries: AddressEntry[] = [];
  let count = 0;
  let i = 0;
  while (i < tokens.length && count < addressesMax) {
    // A group starts with "phrase :" before any '<' or '@' of the same item.
    let j = i;
    while (j < tokens.length && !isSpecial(tokens[j], ',') && !isSpecial(tokens[j], ':') && !isSpecial(tokens[j], '<') && !isSpecial(tokens[j], '@')) j++;
    if (isSpecial(tokens[j], ':')) {
      const raw = phrase(tokens.slice(i, j)) ?? '';
      let k = j + 1;
      while (k < tokens.length && !isSpecial(tokens[k], ';')) k++;
      const addresses: MailAddress[] = [];
      for (const item of splitCommas(tokens.slice(j + 1, k))) {
        if (count >= addressesMax) break;
        const address = mailbox(item);
        if (address !== null) {
          addresses.push(address);
          count++;
        }
      }
      entries.push({ group: raw, groupDecoded: decodeWords(raw), addresses });
      i = k + 1;
      if (isSpecial(tokens[i], ',')) i++;
      continue;
    }
    // One mailbox: up to the next top-level comma.
    let k = i;
    let angle = false;
    while (k < tokens.length) {
      if (isSpecial(tokens[k], '<')) angle = true;
      if (isSpecial(tokens[k], '>')) angle = false;
      if (isSpecial(tokens[k], ',') && !angle) break;
      k++;
    }
    const address = mailbox(tokens.slice(i, k));
    if (address !== null) {
      entries.push(address);
      count++;
    }
    i = k + 1;
  }
  return entries;
}
