// The content engineer's MIME summary (engine/mime/types.ts, parsed once at delivery) in the
// shapes the IMAP encoder writes: ENVELOPE and BODYSTRUCTURE. No parsing here, only mapping.

import { isGroup, type AddressEntry, type BodyPart, type Envelope as MimeEnvelope } from '../../engine/api.js';
import type { BodyStructure, Envelope, EnvelopeAddress } from './wire/types.js';

function addresses(entries: readonly AddressEntry[]): EnvelopeAddress[] | null {
  if (entries.length === 0) return null;
  const out: EnvelopeAddress[] = [];
  for (const entry of entries) {
    if (isGroup(entry)) {
      // RFC 9051 §7.5.2: a group is a start marker (mailbox = name, host NIL), its members, an end marker.
      out.push({ name: null, adl: null, mailbox: entry.group, host: null });
      for (const a of entry.addresses) out.push({ name: a.name, adl: null, mailbox: a.mailbox, host: a.host });
      out.push({ name: null, adl: null, mailbox: null, host: null });
    } else {
      out.push({ name: entry.name, adl: null, mailbox: entry.mailbox, host: entry.host });
    }
  }
  return out;
}

export function envelopeOf(e: MimeEnvelope): Envelope {
  const from = addresses(e.from);
  return {
    date: e.date,
    subject: e.subject,
    from,
    // RFC 9051 §7.5.2: sender and reply-to default to from.
    sender: addresses(e.sender) ?? from,
    replyTo: addresses(e.replyTo) ?? from,
    to: addresses(e.to),
    cc: addresses(e.cc),
    bcc: addresses(e.bcc),
    inReplyTo: e.inReplyTo,
    messageId: e.messageId,
  };
}

export function bodyStructureOf(part: BodyPart): BodyStructure {
  const extension = {
    disposition: part.disposition === null ? null : { type: part.disposition.type, params: part.disposition.params.length === 0 ? null : part.disposition.params },
    language: part.language,
    location: part.location,
  };
  const params = part.params.length === 0 ? null : part.params;
  if (part.children.length > 0) {
    return { kind: 'multipart', parts: part.children.map(bodyStructureOf), subtype: part.subtype, params, ...extension };
  }
  const message = part.message === null ? undefined : { envelope: envelopeOf(part.message.envelope), body: bodyStructureOf(part.message.body) };
  const hasLines = part.type.toLowerCase() === 'text' || message !== undefined;
  return {
    kind: 'single',
    type: part.type,
    subtype: part.subtype,
    params,
    id: part.id,
    description: part.description,
    encoding: part.encoding,
    sizeBytes: part.sizeBytes,
    lines: hasLines ? (part.lines ?? 0) : undefined,
    message,
    md5: part.md5,
    ...extension,
  };
}
