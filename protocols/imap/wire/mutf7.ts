// Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3, kept by RFC 9051 §5.1.3 for
// clients that have not enabled UTF8=ACCEPT).
//
//   printable US-ASCII 0x20..0x7e stands for itself, except "&" which is written "&-";
//   anything else is "&" + modified BASE64 (alphabet "+," instead of "+/", no padding)
//   of the UTF-16BE code units + "-".
//
// decode() is strict: it refuses what a conforming encoder would never produce (shifted
// printable ASCII, "&" runs that could be merged, non-zero padding bits, unpaired surrogates)
// so that every mailbox has one spelling on the wire.

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const alphabetIndex = new Int8Array(128).fill(-1);
for (let i = 0; i < alphabet.length; i++) alphabetIndex[alphabet.charCodeAt(i)] = i;

function isPrintableAscii(code: number): boolean {
  return code >= 0x20 && code <= 0x7e;
}

export function mutf7Encode(name: string): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const code = name.charCodeAt(i);
    if (code === 0x26) {
      out += '&-';
      i++;
      continue;
    }
    if (isPrintableAscii(code)) {
      out += name[i];
      i++;
      continue;
    }
    // Collect the run of non-printable characters and encode their UTF-16 code units.
    let end = i;
    while (end < name.length && !isPrintableAscii(name.charCodeAt(end))) end++;
    out += '&' + base64Units(name, i, end) + '-';
    i = end;
  }
  return out;
}

function base64Units(s: string, start: number, end: number): string {
  let out = '';
  let bits = 0;
  let bitCount = 0;
  for (let i = start; i < end; i++) {
    bits = (bits << 16) | s.charCodeAt(i);
    bitCount += 16;
    while (bitCount >= 6) {
      bitCount -= 6;
      out += alphabet[(bits >> bitCount) & 0x3f];
    }
    bits &= (1 << bitCount) - 1;
  }
  if (bitCount > 0) out += alphabet[(bits << (6 - bitCount)) & 0x3f];
  return out;
}

/** Decodes a modified UTF-7 name; `undefined` when it is not a valid (canonical) encoding. */
export function mutf7Decode(encoded: string): string | undefined {
  let out = '';
  let i = 0;
  let previousShiftEnd = -1;
  while (i < encoded.length) {
    const code = encoded.charCodeAt(i);
    if (!isPrintableAscii(code)) return undefined;
    if (code !== 0x26) {
      out += encoded[i];
      i++;
      continue;
    }
    const close = encoded.indexOf('-', i + 1);
    if (close < 0) return undefined;
    if (close === i + 1) {
      out += '&';
      i = close + 1;
      continue;
    }
    // Two adjacent shifted runs should have been one run.
    if (previousShiftEnd === i) return undefined;
    const decoded = decodeUnits(encoded, i + 1, close);
    if (decoded === undefined) return undefined;
    out += decoded;
    i = close + 1;
    previousShiftEnd = i;
  }
  return out;
}

function decodeUnits(s: string, start: number, end: number): string | undefined {
  const units: number[] = [];
  let bits = 0;
  let bitCount = 0;
  for (let i = start; i < end; i++) {
    const code = s.charCodeAt(i);
    const value = code < 128 ? alphabetIndex[code]! : -1;
    if (value < 0) return undefined;
    bits = (bits << 6) | value;
    bitCount += 6;
    if (bitCount >= 16) {
      bitCount -= 16;
      units.push((bits >> bitCount) & 0xffff);
      bits &= (1 << bitCount) - 1;
    }
  }
  // Leftover bits must be padding: fewer than 6 of them (else a whole sextet was wasted), all zero.
  if (bitCount >= 6 || bits !== 0 || units.length === 0) return undefined;
  let out = '';
  for (let i = 0; i < units.length; i++) {
    const unit = units[i]!;
    if (isPrintableAscii(unit)) return undefined;
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const low = units[i + 1];
      if (low === undefined || low < 0xdc00 || low > 0xdfff) return undefined;
      out += String.fromCharCode(unit, low);
      i++;
      continue;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) return undefined;
    out += String.fromCharCode(unit);
  }
  return out;
}
