// RETR msg (RFC 1939 sec. 5): the message as stored, dot-stuffed, in one multi-line answer.
import { fail } from '../../../engine/errors.js';
import { dotStuff, encodeOk } from '../wire/encoder.js';
import type { Pop3Session } from '../session.js';
import { loggedIn, noSuchMessage, type Pop3CommandModule } from './index.js';

export const retr: Pop3CommandModule<'RETR'> = {
  states: ['transaction'],
  async handle(session, command) {
    const body = await readBody(session, command.message);
    if (body === null) return 'no';
    await session.write(Buffer.concat([encodeOk(`${body.length} octets`), dotStuff(body)]));
    return 'ok';
  },
};

/** The bytes of a live message of the snapshot; null when it answered -ERR. */
export async function readBody(session: Pop3Session, number: number): Promise<Uint8Array | null> {
  const { account, api, maildrop } = loggedIn(session);
  const message = maildrop.get(number);
  if (message === undefined) {
    await noSuchMessage(session, number);
    return null;
  }
  const read = await api.readMessage(account.mailboxId, 'INBOX', message.uid);
  if (!read.ok) {
    // Expunged by another protocol (IMAP, JMAP) since login: say so, not a server error.
    await session.failure(read.code === 'NO_SUCH_MESSAGE' ? fail('NO_SUCH_MESSAGE', `Message ${number} was deleted by another session`) : read);
    return null;
  }
  return read.value;
}
