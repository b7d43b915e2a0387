// Small pieces of IMAP replies the commands share: FLAGS/MODSEQ of a message, INTERNALDATE,
// flag lists, folder names as the client sees them.

import type { MessageInfo } from '../../engine/api.js';
import type { ResponseWriter } from './wire/encoder.js';

export const systemFlags = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'] as const;

/** `FLAGS (...)` and, with CONDSTORE on, ` MODSEQ (n)`; always with UID first (RFC 7162 §3.2.4 wants it with QRESYNC). */
export function writeFetchFlags(w: ResponseWriter, info: MessageInfo, modseq: boolean): void {
  w.raw(`UID ${info.uid} `);
  writeFlagList(w, info.flags);
  if (modseq) w.raw(` MODSEQ (${info.modseq})`);
}

export function writeFlagList(w: ResponseWriter, flags: readonly string[]): void {
  // One piece of text (the list's items are flag atoms): this runs once per message of a FETCH 1:* (FLAGS).
  w.raw(`FLAGS (${flags.join(' ')})`);
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE, in UTC. */
export function imapDateTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `"${two(d.getUTCDate())}-${months[d.getUTCMonth()]}-${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000"`;
}

/** Flags the server stores: anything but \Recent (RFC 9051 drops it; clients may not set it). */
export function storableFlags(flags: readonly string[]): string[] {
  return flags.filter((f) => f.toLowerCase() !== '\\recent');
}

export function hasFlag(info: MessageInfo, flag: string): boolean {
  const lower = flag.toLowerCase();
  return info.flags.some((f) => f.toLowerCase() === lower);
}

/** A client's mailbox name to the folder name the mailbox API uses (`INBOX` in any case is INBOX). */
export function folderName(mailbox: string): string {
  const trimmed = mailbox.endsWith('/') ? mailbox.slice(0, -1) : mailbox;
  return /^inbox(\/|$)/i.test(trimmed) ? 'INBOX' + trimmed.slice(5) : trimmed;
}
