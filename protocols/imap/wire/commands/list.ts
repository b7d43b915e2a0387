// LIST (RFC 9051 §6.3.9) with LIST-EXTENDED (RFC 5258), SPECIAL-USE (RFC 6154),
// LIST-STATUS (RFC 5819), LIST-MYRIGHTS (RFC 8440); LSUB (RFC 3501 §6.3.9).
//
//   list             = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
//   list-select-opts = "(" [list-select-opt *(SP list-select-opt)] ")"
//   list-select-opt  = "SUBSCRIBED" / "REMOTE" / "RECURSIVEMATCH" / "SPECIAL-USE"
//   mbox-or-pat      = list-mailbox / patterns
//   patterns         = "(" list-mailbox *(SP list-mailbox) ")"
//   list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
//   return-option    = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" / "MYRIGHTS" / "STATUS" SP "(" status-att ... ")"
//   lsub             = "LSUB" SP mailbox SP list-mailbox

import type { Reader } from '../reader.js';
import type { Command, ListReturn, ListSelection, StatusItem } from '../types.js';
import { parseStatusItems } from './status.js';

export function parseList(r: Reader): Command {
  r.sp();
  let extended = false;
  const selection = { subscribed: false, remote: false, recursiveMatch: false, specialUse: false };
  if (r.peek() === 0x28 /* ( */) {
    extended = true;
    r.list(() => {
      const option = r.atom().toUpperCase();
      switch (option) {
        case 'SUBSCRIBED':
          selection.subscribed = true;
          break;
        case 'REMOTE':
          selection.remote = true;
          break;
        case 'RECURSIVEMATCH':
          selection.recursiveMatch = true;
          break;
        case 'SPECIAL-USE':
          selection.specialUse = true;
          break;
        default:
          // RFC 5258 §3: unrecognised selection options are an error.
          r.fail(`Unknown LIST selection option ${option}`);
      }
    }, true);
    r.sp();
    // RFC 5258 §3: RECURSIVEMATCH needs another option that it modifies.
    if (selection.recursiveMatch && !selection.subscribed && !selection.specialUse) r.fail('RECURSIVEMATCH alone');
  }
  const reference = r.decodeMailboxName(r.astring(), false);
  r.sp();
  let patterns: string[];
  if (r.peek() === 0x28) {
    extended = true;
    patterns = r.list(() => r.listMailbox(), false);
  } else {
    patterns = [r.listMailbox()];
  }
  const returns: { subscribed: boolean; children: boolean; specialUse: boolean; myRights: boolean; status: StatusItem[] | undefined } = {
    subscribed: false,
    children: false,
    specialUse: false,
    myRights: false,
    status: undefined,
  };
  if (r.trySp()) {
    extended = true;
    r.word('RETURN');
    r.sp();
    r.list(() => {
      const option = r.atom().toUpperCase();
      switch (option) {
        case 'SUBSCRIBED':
          returns.subscribed = true;
          break;
        case 'CHILDREN':
          returns.children = true;
          break;
        case 'SPECIAL-USE':
          returns.specialUse = true;
          break;
        case 'MYRIGHTS':
          returns.myRights = true;
          break;
        case 'STATUS':
          r.sp();
          returns.status = parseStatusItems(r);
          break;
        default:
          r.fail(`Unknown LIST return option ${option}`);
      }
    }, true);
  }
  r.expectEnd();
  return { kind: 'LIST', reference, patterns, selection: selection as ListSelection, returns: returns as ListReturn, extended };
}

export function parseLsub(r: Reader): Command {
  r.sp();
  const reference = r.decodeMailboxName(r.astring(), false);
  r.sp();
  const pattern = r.listMailbox();
  r.expectEnd();
  return { kind: 'LSUB', reference, pattern };
}
