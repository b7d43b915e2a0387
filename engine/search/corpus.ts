// A seeded generator of varied messages and search queries, for the index-equals-brute-force
// test and the search benchmark: several scripts and case pairs (ß/SS, Greek, Cyrillic, CJK),
// transfer encodings (7bit, 8bit, quoted-printable, base64), charsets (UTF-8, ISO-8859-1),
// HTML alternatives, RFC 2047 subjects and display names, attachments and forwarded messages.

import type { Prng } from '../io.js';
import type { ContentCriterion } from './types.js';

export const vocabulary = [
  'invoice', 'Invoice', 'INVOICE', 'meeting', 'report', 'quarterly', 'budget', 'Straße', 'STRASSE', 'Grüße', 'naïve', 'café',
  'Ελλάδα', 'ΟΔΟΣ', 'Москва', 'привет', '東京都', '会議', 'データ', 'x-ray', "don't", 'e-mail', 'foo.bar', 'v1.2.3', '2026',
  '42', 'ﬁle', 'Ⅻ', 'résumé', 'RÉSUMÉ', 'ok', 'a', 'the', 'of', 'and', 'project', 'deadline', 'follow-up', 'über', 'ÜBER',
];
const names = ['Alice Example', 'Bob Müller', 'Zoë Ωmega', '山田 太郎', 'Carol', 'Dave O\'Neil'];
const domains = ['example.org', 'example.net', 'mail.test'];

function pick<T>(prng: Prng, list: readonly T[]): T {
  return list[prng.below(list.length)]!;
}

function words(prng: Prng, count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    out.push(pick(prng, vocabulary));
    const r = prng.below(10);
    if (r === 0) out.push(',');
    else if (r === 1) out.push('.\n');
    else if (r === 2) out.push(' -');
  }
  return out.join(' ').replace(/ ([,.])/g, '$1');
}

const b64 = (text: string, charset: BufferEncoding = 'utf8'): string => (Buffer.from(text, charset).toString('base64').match(/.{1,76}/g) ?? ['']).join('\r\n');

function qp(text: string): string {
  let out = '';
  let line = 0;
  for (const byte of Buffer.from(text, 'utf8')) {
    const piece = byte === 0x0a ? '\r\n' : byte >= 0x21 && byte <= 0x7e && byte !== 0x3d ? String.fromCharCode(byte) : byte === 0x20 ? ' ' : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    if (piece === '\r\n') line = 0;
    else if (line + piece.length > 72) {
      out += '=\r\n';
      line = 0;
    }
    out += piece;
    line += piece === '\r\n' ? 0 : piece.length;
  }
  return out;
}

const encodedWord = (text: string): string => `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;

function address(prng: Prng): string {
  const name = pick(prng, names);
  const local = name.toLowerCase().replace(/[^a-z]/g, '') || 'user';
  const display = /^[\x20-\x7e]*$/.test(name) ? `"${name}"` : encodedWord(name);
  return `${display} <${local}@${pick(prng, domains)}>`;
}

function textPart(prng: Prng, body: string): string {
  switch (prng.below(4)) {
    case 0:
      return `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qp(body)}`;
    case 1:
      return `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(body)}`;
    case 2:
      return /^[\x00-\xff]*$/.test(body)
        ? `Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(body, 'latin1')}`
        : `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body.replace(/\n/g, '\r\n')}`;
    default:
      return `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body.replace(/\n/g, '\r\n')}`;
  }
}

/** One generated message, CRLF line endings. `bodyWords` sets its size. */
export function generateMessage(prng: Prng, n: number, bodyWords = 40): Uint8Array {
  const subjectText = words(prng, 1 + prng.below(6)).replace(/\n/g, ' ');
  const subject = prng.below(3) === 0 ? encodedWord(subjectText) : /^[\x20-\x7e]*$/.test(subjectText) ? subjectText : encodedWord(subjectText);
  const header = [
    `From: ${address(prng)}`,
    `To: ${address(prng)}${prng.below(2) === 0 ? `, ${address(prng)}` : ''}`,
    ...(prng.below(3) === 0 ? [`Cc: ${address(prng)}`] : []),
    ...(prng.below(5) === 0 ? [`Bcc: ${address(prng)}`] : []),
    `Subject: ${subject}`,
    `Date: ${1 + prng.below(28)} Mar 2026 10:${String(prng.below(60)).padStart(2, '0')}:00 +0000`,
    `Message-ID: <gen.${n}@example.org>`,
    ...(prng.below(4) === 0 ? [`X-Project: ${words(prng, 2).replace(/\n/g, ' ')}`] : []),
    'MIME-Version: 1.0',
  ].join('\r\n');
  const body = words(prng, bodyWords + prng.below(bodyWords));
  let mime: string;
  switch (prng.below(4)) {
    case 0:
      mime = textPart(prng, body);
      break;
    case 1:
      mime = `Content-Type: multipart/alternative; boundary="a${n}"\r\n\r\n--a${n}\r\n${textPart(prng, body)}\r\n--a${n}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>${body.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\n/g, '<br>')}</p></body></html>\r\n--a${n}--\r\n`;
      break;
    case 2:
      mime = `Content-Type: multipart/mixed; boundary="m${n}"\r\n\r\n--m${n}\r\n${textPart(prng, body)}\r\n--m${n}\r\nContent-Type: application/octet-stream; name="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(words(prng, 5))}\r\n--m${n}\r\nContent-Type: text/plain; name="notes.txt"\r\nContent-Disposition: attachment\r\n\r\n${words(prng, 8).replace(/\n/g, '\r\n')}\r\n--m${n}--\r\n`;
      break;
    default:
      mime = `Content-Type: multipart/mixed; boundary="f${n}"\r\n\r\n--f${n}\r\n${textPart(prng, body)}\r\n--f${n}\r\nContent-Type: message/rfc822\r\n\r\nFrom: ${address(prng)}\r\nSubject: ${words(prng, 3).replace(/\n/g, ' ')}\r\n\r\n${words(prng, 12).replace(/\n/g, '\r\n')}\r\n--f${n}--\r\n`;
  }
  return new Uint8Array(Buffer.from(`${header}\r\n${mime}`, 'utf8'));
}

/** A query drawn from the vocabulary and from pieces of a sample text (partial words, phrases, separators). */
export function generateQuery(prng: Prng, samples: readonly string[]): string {
  const sample = samples.length === 0 ? '' : pick(prng, samples);
  switch (prng.below(6)) {
    case 0:
      return pick(prng, vocabulary);
    case 1:
      return pick(prng, vocabulary).slice(prng.below(3), 2 + prng.below(6)); // partial word
    case 2:
    case 3: {
      if (sample.length === 0) return 'report';
      const start = prng.below(sample.length);
      return sample.slice(start, start + 1 + prng.below(14)); // any substring: phrases, separators
    }
    case 4:
      return `${pick(prng, vocabulary)} ${pick(prng, vocabulary)}`;
    default:
      return pick(prng, ['', ' ', '-', '@', 'example.org', 'müller', 'MÜLLER', 'ss', 'xii', 'file']);
  }
}

const leafKeys = ['text', 'body', 'subject', 'from', 'to', 'cc', 'bcc'] as const;

export function generateCriterion(prng: Prng, samples: readonly string[], depth = 0): ContentCriterion {
  const r = prng.below(depth >= 2 ? 8 : 12);
  if (r < 6) return { key: leafKeys[prng.below(leafKeys.length)]!, value: generateQuery(prng, samples) };
  if (r < 8) return { key: 'header', name: pick(prng, ['X-Project', 'Subject', 'Message-ID', 'From', 'X-Missing', 'Date']), value: generateQuery(prng, samples) };
  if (r < 10) return { key: r === 8 ? 'and' : 'or', of: [generateCriterion(prng, samples, depth + 1), generateCriterion(prng, samples, depth + 1)] };
  return { key: 'not', of: generateCriterion(prng, samples, depth + 1) };
}
