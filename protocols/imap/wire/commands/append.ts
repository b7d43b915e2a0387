// APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502), BINARY literal8 (RFC 3516),
// UTF8 (RFC 6855) and LITERAL+ (RFC 7888, handled by the decoder).
//
//   append         = "APPEND" SP mailbox 1*append-message
//   append-message = [SP flag-list] [SP date-time] SP append-data
//   append-data    = literal / literal8 / "UTF8" SP "(" literal8 ")"

import type { Reader } from '../reader.js';
import type { AppendMessage, Command, ImapDateTime } from '../types.js';

export function parseAppend(r: Reader): Command {
  r.sp();
  const mailbox = r.mailbox();
  const messages: AppendMessage[] = [];
  do {
    messages.push(parseMessage(r));
  } while (!r.atEnd());
  return { kind: 'APPEND', mailbox, messages };
}

function parseMessage(r: Reader): AppendMessage {
  r.sp();
  let flags: string[] = [];
  let internalDate: ImapDateTime | undefined;
  if (r.peek() === 0x28 /* ( */) {
    flags = r.flagList();
    r.sp();
  }
  if (r.peek() === 0x22 /* " */) {
    internalDate = r.dateTime();
    r.sp();
  }
  if (r.tryWord('UTF8')) {
    r.sp();
    r.expect(0x28);
    const { data } = r.literal(true);
    r.expect(0x29);
    return { flags, internalDate, data, binary: true, utf8: true };
  }
  const { data, binary } = r.literal(true);
  return { flags, internalDate, data, binary, utf8: false };
}
