// FETCH (RFC 9051 §6.4.5) with BINARY (RFC 3516), CONDSTORE/QRESYNC modifiers (RFC 7162),
// OBJECTID (RFC 8474) and SAVEDATE (RFC 8514).
//
//   fetch         = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
//                   fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
//   fetch-att     = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
//                   "BODY" ["STRUCTURE"] / "UID" / "BODY" section [partial] /
//                   "BODY.PEEK" section [partial] / "BINARY" [".PEEK"] section-binary [partial] /
//                   "BINARY.SIZE" section-binary / "MODSEQ" / "EMAILID" / "THREADID" / "SAVEDATE"
//   section       = "[" [section-spec] "]"
//   section-spec  = section-msgtext / (section-part ["." section-text])
//   section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
//   section-text  = section-msgtext / "MIME"
//   section-part  = nz-number *("." nz-number)
//   partial       = "<" number "." nz-number ">"
//   fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
//   fetch-modifier  = "CHANGEDSINCE" SP mod-sequence-value / "VANISHED"

import type { Reader } from '../reader.js';
import type { Command, FetchAttribute, Partial, Section, SectionText } from '../types.js';

const simpleAttributes = new Set([
  'FLAGS',
  'INTERNALDATE',
  'RFC822.SIZE',
  'ENVELOPE',
  'BODY',
  'BODYSTRUCTURE',
  'UID',
  'MODSEQ',
  'EMAILID',
  'THREADID',
  'RFC822',
  'RFC822.HEADER',
  'RFC822.TEXT',
  'SAVEDATE',
]);

const macros = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
} as const;

export function parseFetch(r: Reader, uid: boolean): Command {
  r.sp();
  const sequenceSet = r.sequenceSet();
  r.sp();
  let attributes: FetchAttribute[];
  let macro: 'ALL' | 'FAST' | 'FULL' | undefined;
  if (r.peek() === 0x28 /* ( */) {
    attributes = r.list(() => parseAttribute(r), false);
  } else {
    const word = r.peekAtomUpper();
    if (word === 'ALL' || word === 'FAST' || word === 'FULL') {
      r.pos += word.length;
      macro = word;
      attributes = macros[word].map((kind) => ({ kind }) as FetchAttribute);
    } else {
      attributes = [parseAttribute(r)];
    }
  }
  let changedSince: bigint | undefined;
  let vanished = false;
  if (r.trySp()) {
    r.list(() => {
      if (r.tryWord('CHANGEDSINCE')) {
        r.sp();
        changedSince = r.number64();
      } else if (r.tryWord('VANISHED')) {
        vanished = true;
      } else {
        r.fail('Unknown FETCH modifier');
      }
    }, false);
  }
  r.expectEnd();
  // RFC 7162 §3.2.6: VANISHED only in UID FETCH and only together with CHANGEDSINCE.
  if (vanished && (!uid || changedSince === undefined)) r.fail('VANISHED needs UID FETCH with CHANGEDSINCE');
  // CHANGEDSINCE implies MODSEQ in the reply (RFC 7162 §3.1.4.1).
  if (changedSince !== undefined && !attributes.some((a) => a.kind === 'MODSEQ')) attributes.push({ kind: 'MODSEQ' });
  return { kind: 'FETCH', uid, sequenceSet, attributes, macro, changedSince, vanished };
}

function attributeName(r: Reader): string {
  const start = r.pos;
  for (;;) {
    const c = r.peek();
    const isNameChar = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d;
    if (!isNameChar) break;
    r.pos++;
  }
  if (r.pos === start) r.fail(`Expected fetch attribute at byte ${start}`);
  return Buffer.from(r.bytes.subarray(start, r.pos)).toString('latin1').toUpperCase();
}

function parseAttribute(r: Reader): FetchAttribute {
  const name = attributeName(r);
  const hasSection = r.peek() === 0x5b; /* [ */
  if (!hasSection) {
    if (simpleAttributes.has(name)) return { kind: name } as FetchAttribute;
    return r.fail(`Unknown fetch attribute ${name}`);
  }
  switch (name) {
    case 'BODY':
    case 'BODY.PEEK': {
      const section = parseSection(r);
      return { kind: 'BODY[]', peek: name === 'BODY.PEEK', section, partial: parsePartial(r) };
    }
    case 'BINARY':
    case 'BINARY.PEEK': {
      const part = parseBinarySection(r);
      return { kind: 'BINARY[]', peek: name === 'BINARY.PEEK', part, partial: parsePartial(r) };
    }
    case 'BINARY.SIZE':
      return { kind: 'BINARY.SIZE', part: parseBinarySection(r) };
    default:
      return r.fail(`Unknown fetch attribute ${name}[`);
  }
}

function parsePartNumbers(r: Reader): number[] {
  const part: number[] = [];
  while (r.peek() >= 0x30 && r.peek() <= 0x39) {
    part.push(r.nzNumber());
    if (part.length > r.options.limits.parseDepthMax) r.fail('Section part nesting too deep', 'too-deep');
    // A dot continues with a number or a section-text keyword.
    if (r.peek() === 0x2e && r.peek(1) >= 0x30 && r.peek(1) <= 0x39) r.pos++;
    else break;
  }
  return part;
}

export function parseSection(r: Reader): Section {
  r.expect(0x5b);
  const part = parsePartNumbers(r);
  let text: SectionText | undefined;
  let fields: string[] = [];
  if (part.length > 0 && r.peek() === 0x2e) r.pos++;
  else if (part.length > 0 && r.peek() !== 0x5d) r.fail('Bad section');
  if (r.peek() !== 0x5d /* ] */) {
    const word = attributeName(r);
    switch (word) {
      case 'HEADER':
      case 'TEXT':
        text = word;
        break;
      case 'MIME':
        if (part.length === 0) r.fail('MIME needs a part number');
        text = word;
        break;
      case 'HEADER.FIELDS':
      case 'HEADER.FIELDS.NOT':
        text = word;
        r.sp();
        fields = r.list(() => r.astring(), false);
        break;
      default:
        r.fail(`Unknown section ${word}`);
    }
  }
  r.expect(0x5d);
  return { part, text, fields };
}

function parseBinarySection(r: Reader): number[] {
  r.expect(0x5b);
  const part = parsePartNumbers(r);
  r.expect(0x5d);
  return part;
}

function parsePartial(r: Reader): Partial | undefined {
  if (!r.tryByte(0x3c /* < */)) return undefined;
  const offset = r.number();
  r.expect(0x2e);
  const count = r.nzNumber();
  r.expect(0x3e);
  return { offset, count };
}
