// Decoders for what MIME encodes: transfer encodings (base64, quoted-printable), character sets
// (through TextDecoder, which knows the WHATWG encodings), RFC 2047 encoded words and RFC 2231
// parameter values. None of them throws: damaged input decodes to what can be recovered, and
// the caller learns that something was replaced.

export interface Decoded<T> {
  readonly value: T;
  /** Something had to be skipped or replaced. */
  readonly problem: boolean;
}

const base64Values = new Int8Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => (base64Values[c.charCodeAt(0)] = i));
// base64url letters too: some mailers use them in encoded words.
base64Values['-'.charCodeAt(0)] = 62;
base64Values['_'.charCodeAt(0)] = 63;

const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a;

/** Base64 decoding that skips line breaks and junk and stops at padding. */
export function decodeBase64(input: Uint8Array): Decoded<Uint8Array> {
  const out = new Uint8Array(Math.floor((input.length * 3) / 4) + 3);
  let length = 0;
  let bits = 0;
  let count = 0;
  let problem = false;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    if (byte === 0x3d) break; // '=' padding: the rest is not data
    const value = base64Values[byte]!;
    if (value < 0) {
      if (!isSpace(byte)) problem = true;
      continue;
    }
    bits = (bits << 6) | value;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[length++] = (bits >> count) & 0xff;
    }
  }
  if (count >= 6) problem = true; // a lone trailing character carries no full byte
  return { value: out.subarray(0, length), problem };
}

/** The decoded size of base64 text without decoding it. */
export function base64DecodedBytes(input: Uint8Array): number {
  let chars = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    if (byte === 0x3d) break;
    if (base64Values[byte]! >= 0) chars++;
  }
  return Math.floor((chars * 6) / 8);
}

const hexValue = (b: number): number => (b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x41 && b <= 0x46 ? b - 0x37 : b >= 0x61 && b <= 0x66 ? b - 0x57 : -1);

/** Quoted-printable (RFC 2045 6.7). `header` is RFC 2047's Q variant: '_' is a space. */
export function decodeQuotedPrintable(input: Uint8Array, header = false): Decoded<Uint8Array> {
  const out = new Uint8Array(input.length);
  let length = 0;
  let problem = false;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    if (byte === 0x3d) {
      const h = hexValue(input[i + 1] ?? -1);
      const l = hexValue(input[i + 2] ?? -1);
      if (h >= 0 && l >= 0) {
        out[length++] = (h << 4) | l;
        i += 2;
        continue;
      }
      // A soft line break: '=' then optional trailing blanks then the line ending.
      let j = i + 1;
      while (j < input.length && (input[j] === 0x20 || input[j] === 0x09)) j++;
      if (j < input.length && input[j] === 0x0d && input[j + 1] === 0x0a) {
        i = j + 1;
        continue;
      }
      if (j < input.length && input[j] === 0x0a) {
        i = j;
        continue;
      }
      if (j >= input.length) {
        i = j;
        continue;
      }
      problem = true; // a literal '=' that encodes nothing: keep it, as mailers do
      out[length++] = byte;
      continue;
    }
    if (header && byte === 0x5f) {
      out[length++] = 0x20;
      continue;
    }
    // Trailing blanks before a hard line break were added in transport (RFC 2045 6.7 rule 3).
    if ((byte === 0x20 || byte === 0x09) && !header) {
      let j = i;
      while (j < input.length && (input[j] === 0x20 || input[j] === 0x09)) j++;
      if (j >= input.length || input[j] === 0x0a || (input[j] === 0x0d && input[j + 1] === 0x0a)) {
        i = j - 1;
        continue;
      }
    }
    out[length++] = byte;
  }
  return { value: out.subarray(0, length), problem };
}

const decoders = new Map<string, TextDecoder | null>();

/** A TextDecoder for a charset label, or null if the label is unknown. Cached. */
function decoderFor(charset: string): TextDecoder | null {
  const label = charset.trim().toLowerCase();
  let decoder = decoders.get(label);
  if (decoder === undefined) {
    try {
      // fatal: true so a wrong charset label is noticed, then decoded again with replacement.
      decoder = new TextDecoder(label === 'utf8' ? 'utf-8' : label, { fatal: true });
    } catch {
      decoder = null;
    }
    if (decoders.size < 256) decoders.set(label, decoder);
  }
  return decoder;
}

const latin1 = new TextDecoder('latin1');

// Node 20's TextDecoder reads windows-1252 (and its aliases latin1, iso-8859-1, us-ascii) as
// ISO-8859-1: 0x80-0x9F come out as C1 controls instead of €, ‚, ƒ ... So those bytes are
// mapped here, as the WHATWG Encoding Standard says.
const cp1252High = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ';
function decodeWindows1252(bytes: Uint8Array): string {
  const text = latin1.decode(bytes);
  return /[\u0080-\u009f]/.test(text) ? text.replace(/[\u0080-\u009f]/g, (c) => cp1252High[c.charCodeAt(0) - 0x80]!) : text;
}
const utf8Lenient = new TextDecoder('utf-8');

/**
 * Bytes in a charset to a string. An unknown charset is read as UTF-8 if the bytes are valid
 * UTF-8, else as Latin-1 (so no byte is lost); invalid sequences become U+FFFD.
 */
export function decodeCharset(bytes: Uint8Array, charset: string | null): Decoded<string> {
  const decoder = charset === null ? decoderFor('utf-8') : decoderFor(charset);
  if (decoder !== null) {
    if (decoder.encoding === 'windows-1252') return { value: decodeWindows1252(bytes), problem: false };
    try {
      return { value: decoder.decode(bytes), problem: false };
    } catch {
      return { value: new TextDecoder(decoder.encoding).decode(bytes), problem: true };
    }
  }
  try {
    return { value: decoderFor('utf-8')!.decode(bytes), problem: charset !== null };
  } catch {
    return { value: latin1.decode(bytes), problem: true };
  }
}

/** Header bytes to a string: UTF-8 when valid (RFC 6532), else Latin-1 (no byte lost). */
export function headerText(bytes: Uint8Array): string {
  try {
    return decoderFor('utf-8')!.decode(bytes);
  } catch {
    return latin1.decode(bytes);
  }
}

export { utf8Lenient };

const encodedWord = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

/**
 * RFC 2047: decodes encoded words in unstructured text (Subject, display names). Blanks
 * between two adjacent encoded words are dropped (6.2); bytes of adjacent words in the same
 * charset are joined before decoding, so a multi-byte character split across words survives.
 */
export function decodeWords(text: string): string {
  if (!text.includes('=?')) return text;
  let out = '';
  let last = 0;
  let charset: string | null = null; // of the pending run of adjacent encoded words
  let bytes: number[] = [];
  const flush = (): void => {
    if (charset !== null) out += decodeCharset(Uint8Array.from(bytes), charset).value;
    charset = null;
    bytes = [];
  };
  encodedWord.lastIndex = 0;
  for (let match = encodedWord.exec(text); match !== null; match = encodedWord.exec(text)) {
    const between = text.slice(last, match.index);
    if (charset === null || !/^[ \t\r\n]*$/.test(between)) {
      flush();
      out += between;
    }
    const wordCharset = match[1]!.split('*')[0]!.toLowerCase(); // RFC 2231 section 5: charset*language
    const data = new Uint8Array(Buffer.from(match[3]!, 'latin1'));
    const decoded = match[2]!.toLowerCase() === 'b' ? decodeBase64(data).value : decodeQuotedPrintable(data, true).value;
    if (charset !== wordCharset) flush();
    charset = wordCharset;
    for (const b of decoded) bytes.push(b);
    last = match.index + match[0].length;
  }
  flush();
  return out + text.slice(last);
}

/** RFC 2231 extended value: `charset'language'percent-encoded`. */
export function decodeExtendedValue(value: string, charsetFromFirst: string | null): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && hexValue(value.charCodeAt(i + 1)) >= 0 && hexValue(value.charCodeAt(i + 2)) >= 0) {
      bytes.push((hexValue(value.charCodeAt(i + 1)) << 4) | hexValue(value.charCodeAt(i + 2)));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else bytes.push(...Buffer.from(value[i]!, 'utf8'));
  }
  return decodeCharset(Uint8Array.from(bytes), charsetFromFirst ?? 'utf-8').value;
}

/**
 * RFC 2231 parameter reassembly: `name*0*=utf-8''a%20; name*1=b` → name = "a b". Plain
 * values with encoded words (a common violation) are RFC 2047 decoded. Returns lower-cased names.
 */
export function decodeParams(params: ReadonlyArray<readonly [string, string]>): Map<string, string> {
  const out = new Map<string, string>();
  const pieces = new Map<string, Array<{ index: number; value: string; extended: boolean }>>();
  for (const [rawName, value] of params) {
    const match = /^(.*?)\*(?:(\d{1,3})(\*)?|)$/.exec(rawName);
    if (match === null) {
      if (!out.has(rawName)) out.set(rawName, decodeWords(value));
      continue;
    }
    const name = match[1]!;
    const index = match[2] === undefined ? 0 : Number(match[2]);
    const extended = match[2] === undefined ? true : match[3] === '*';
    let list = pieces.get(name);
    if (list === undefined) pieces.set(name, (list = []));
    list.push({ index, value, extended });
  }
  for (const [name, list] of pieces) {
    list.sort((a, b) => a.index - b.index);
    let charset: string | null = null;
    let text = '';
    for (const piece of list) {
      let value = piece.value;
      if (piece.extended && piece.index === 0) {
        const parts = value.split("'");
        if (parts.length >= 3) {
          charset = parts[0] === '' ? null : parts[0]!;
          value = parts.slice(2).join("'");
        }
      }
      text += piece.extended ? decodeExtendedValue(value, charset) : value;
    }
    out.set(name, text); // an RFC 2231 value wins over a plain one of the same name
  }
  return out;
}

/** Transfer-decodes a body. Unknown encodings are returned as they are, with `known: false`. */
export function decodeTransfer(body: Uint8Array, encoding: string): Decoded<Uint8Array> & { known: boolean } {
  switch (encoding) {
    case 'base64':
      return { ...decodeBase64(body), known: true };
    case 'quoted-printable':
      return { ...decodeQuotedPrintable(body), known: true };
    case '7bit':
    case '8bit':
    case 'binary':
    case '':
      return { value: body, problem: false, known: true };
    default:
      return { value: body, problem: false, known: false };
  }
}
