// STATUS (RFC 9051 §6.3.11) with SIZE/DELETED (RFC 9051), HIGHESTMODSEQ (RFC 7162),
// APPENDLIMIT (RFC 7889), MAILBOXID (RFC 8474) and RECENT (RFC 3501 only).
//
//   status     = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"

import type { Reader } from '../reader.js';
import type { Command, StatusItem } from '../types.js';

export const statusItems: readonly StatusItem[] = [
  'MESSAGES',
  'RECENT',
  'UIDNEXT',
  'UIDVALIDITY',
  'UNSEEN',
  'DELETED',
  'SIZE',
  'HIGHESTMODSEQ',
  'APPENDLIMIT',
  'MAILBOXID',
];

export function parseStatusItems(r: Reader): StatusItem[] {
  const items = r.list(() => {
    const item = r.atom().toUpperCase() as StatusItem;
    if (!statusItems.includes(item)) r.fail(`Unknown STATUS item ${item}`);
    return item;
  }, false);
  return [...new Set(items)];
}

export function parseStatus(r: Reader): Command {
  r.sp();
  const mailbox = r.mailbox();
  r.sp();
  const items = parseStatusItems(r);
  r.expectEnd();
  return { kind: 'STATUS', mailbox, items };
}
