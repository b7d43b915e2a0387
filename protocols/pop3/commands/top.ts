// TOP msg n (RFC 1939 sec. 7): the header, the blank line, and the first n lines of the body.
import { dotStuff, encodeOk } from '../wire/encoder.js';
import { readBody } from './retr.js';
import type { Pop3CommandModule } from './index.js';

export const top: Pop3CommandModule<'TOP'> = {
  states: ['transaction'],
  async handle(session, command) {
    const body = await readBody(session, command.message);
    if (body === null) return 'no';
    await session.write(Buffer.concat([encodeOk('Top of message follows'), dotStuff(topOf(body, command.lines))]));
    return 'ok';
  },
};

/** The header section (through its blank line) and `lines` lines of what follows. */
export function topOf(message: Uint8Array, lines: number): Uint8Array {
  const bytes = Buffer.from(message.buffer, message.byteOffset, message.length);
  let end = headerEnd(bytes);
  for (let n = 0; n < lines && end < bytes.length; n++) {
    const lf = bytes.indexOf(0x0a, end);
    end = lf < 0 ? bytes.length : lf + 1;
  }
  return bytes.subarray(0, end);
}

/** Offset just past the empty line that ends the header, or the end when there is none. */
function headerEnd(bytes: Buffer): number {
  if (bytes[0] === 0x0a) return 1;
  if (bytes[0] === 0x0d && bytes[1] === 0x0a) return 2;
  for (let lf = bytes.indexOf(0x0a); lf >= 0; lf = bytes.indexOf(0x0a, lf + 1)) {
    if (bytes[lf + 1] === 0x0a) return lf + 2;
    if (bytes[lf + 1] === 0x0d && bytes[lf + 2] === 0x0a) return lf + 3;
  }
  return bytes.length;
}
