// Email/set create (RFC 8621 4.6): a message written from JMAP properties. Headers from the
// address, subject, date and id properties (RFC 2047 encoded when not ASCII); the body from
// textBody/htmlBody (their values in bodyValues) as text/plain, text/html or
// multipart/alternative, plus attachments from blobs as multipart/mixed. bodyStructure and
// free-form headers are not accepted (invalidProperties).

import { randomBytes } from 'node:crypto';
import { type Args, MethodError } from './core.js';

const known = new Set(['mailboxIds', 'keywords', 'receivedAt', 'from', 'to', 'cc', 'bcc', 'replyTo', 'sender', 'subject', 'sentAt', 'messageId', 'inReplyTo', 'references', 'textBody', 'htmlBody', 'attachments', 'bodyValues']);

const invalid = (property: string, why: string): MethodError => new MethodError('invalidProperties', `${property}: ${why}`, { properties: [property] });

/** RFC 2047 encoded word(s) when the text is not plain printable ASCII. */
function encodeWord(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  return `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

function noLineBreaks(value: string, property: string): string {
  if (/[\r\n]/.test(value)) throw invalid(property, 'line breaks are not allowed');
  return value;
}

function addressList(value: unknown, property: string): string | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) throw invalid(property, 'must be a list of addresses');
  return value
    .map((a: { name?: unknown; email?: unknown }) => {
      if (typeof a?.email !== 'string' || !/^[^\s<>@]+@[^\s<>@]+$/.test(a.email)) throw invalid(property, 'bad email address');
      const name = typeof a.name === 'string' && a.name !== '' ? noLineBreaks(a.name, property) : null;
      if (name === null) return a.email;
      return /^[\x20-\x7e]*$/.test(name) ? `"${name.replace(/(["\\])/g, '\\$1')}" <${a.email}>` : `${encodeWord(name)} <${a.email}>`;
    })
    .join(', ');
}

function idList(value: unknown, property: string): string | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || /[\s<>]/.test(v))) throw invalid(property, 'must be a list of message ids');
  return value.map((v) => `<${v}>`).join(' ');
}

function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace('GMT', '+0000');
}

function base64Lines(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/.{1,76}/g, '$&\r\n');
}

/** Text as quoted-printable-free 8bit would need SMTPUTF8: base64 when not ASCII, else as is with CRLF. */
function textPart(type: 'plain' | 'html', value: string): string {
  const ascii = /^[\x00-\x7f]*$/.test(value);
  const body = ascii ? value.replace(/\r?\n/g, '\r\n') : base64Lines(Buffer.from(value, 'utf8'));
  return `Content-Type: text/${type}; charset=${ascii ? 'us-ascii' : 'utf-8'}\r\nContent-Transfer-Encoding: ${ascii ? '7bit' : 'base64'}\r\n\r\n${body}${body.endsWith('\r\n') ? '' : '\r\n'}`;
}

function multipart(subtype: string, parts: string[]): string {
  const boundary = `=_quire_${randomBytes(12).toString('hex')}`;
  return `Content-Type: multipart/${subtype}; boundary="${boundary}"\r\n\r\n${parts.map((p) => `--${boundary}\r\n${p}`).join('\r\n')}\r\n--${boundary}--\r\n`;
}

function bodyText(object: Args, list: 'textBody' | 'htmlBody'): string | null {
  const parts = object[list];
  if (parts === undefined || parts === null) return null;
  if (!Array.isArray(parts) || parts.length !== 1) throw invalid(list, 'one part is supported');
  const partId = parts[0]?.partId;
  const value = typeof partId === 'string' ? object.bodyValues?.[partId]?.value : undefined;
  if (typeof value !== 'string') throw invalid(list, 'its partId must name a value in bodyValues');
  return value;
}

export async function buildMessage(object: Args, readBlob: (blobId: string) => Promise<{ bytes: Uint8Array; type: string } | null>): Promise<Uint8Array> {
  const unknown = Object.keys(object).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new MethodError('invalidProperties', 'unsupported or server-set properties', { properties: unknown });
  const headers: string[] = [];
  const add = (name: string, value: string | null) => value !== null && headers.push(`${name}: ${value}`);
  add('From', addressList(object.from, 'from'));
  add('Sender', addressList(object.sender, 'sender'));
  add('Reply-To', addressList(object.replyTo, 'replyTo'));
  add('To', addressList(object.to, 'to'));
  add('Cc', addressList(object.cc, 'cc'));
  add('Bcc', addressList(object.bcc, 'bcc'));
  if (object.subject !== undefined && object.subject !== null) add('Subject', encodeWord(noLineBreaks(String(object.subject), 'subject')));
  const sentAt = object.sentAt === undefined || object.sentAt === null ? Date.now() : Date.parse(String(object.sentAt));
  if (Number.isNaN(sentAt)) throw invalid('sentAt', 'not a date');
  add('Date', rfc5322Date(sentAt));
  const messageIds = idList(object.messageId, 'messageId');
  add('Message-ID', messageIds ?? `<${randomBytes(16).toString('hex')}@quire>`);
  add('In-Reply-To', idList(object.inReplyTo, 'inReplyTo'));
  add('References', idList(object.references, 'references'));
  headers.push('MIME-Version: 1.0');

  const text = bodyText(object, 'textBody');
  const html = bodyText(object, 'htmlBody');
  let body = text !== null && html !== null ? multipart('alternative', [textPart('plain', text), textPart('html', html)]) : html !== null ? textPart('html', html) : textPart('plain', text ?? '');
  const attachments = (object.attachments ?? []) as Args[];
  if (!Array.isArray(attachments)) throw invalid('attachments', 'must be a list');
  if (attachments.length > 0) {
    const parts = [body];
    for (const attachment of attachments) {
      if (typeof attachment?.blobId !== 'string') throw invalid('attachments', 'each needs a blobId');
      const blob = await readBlob(attachment.blobId);
      if (blob === null) throw new MethodError('blobNotFound', `no blob ${attachment.blobId}`, { notFound: [attachment.blobId] });
      const type = typeof attachment.type === 'string' && /^[\w.+-]+\/[\w.+-]+$/.test(attachment.type) ? attachment.type : blob.type;
      const name = typeof attachment.name === 'string' ? noLineBreaks(attachment.name, 'attachments') : null;
      const disposition = attachment.disposition === 'inline' ? 'inline' : 'attachment';
      const nameParam = name === null ? '' : `; filename="${encodeWord(name).replace(/"/g, '')}"`;
      parts.push(`Content-Type: ${type}\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: ${disposition}${nameParam}\r\n${typeof attachment.cid === 'string' ? `Content-ID: <${noLineBreaks(attachment.cid, 'attachments')}>\r\n` : ''}\r\n${base64Lines(blob.bytes)}`);
    }
    body = multipart('mixed', parts);
  }
  return Buffer.from(`${headers.join('\r\n')}\r\n${body}`, 'utf8');
}
