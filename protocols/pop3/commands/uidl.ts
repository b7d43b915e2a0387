// UIDL [msg] (RFC 1939 sec. 7): "number unique-id"; ids stay the same across sessions.
import { encodeMultiline } from '../wire/encoder.js';
import { loggedIn, noSuchMessage, type Pop3CommandModule } from './index.js';

export const uidl: Pop3CommandModule<'UIDL'> = {
  states: ['transaction'],
  async handle(session, command) {
    const { maildrop } = loggedIn(session);
    if (command.message !== undefined) {
      const message = maildrop.get(command.message);
      if (message === undefined) return noSuchMessage(session, command.message);
      await session.ok(`${message.number} ${message.uniqueId}`);
      return 'ok';
    }
    await session.write(encodeMultiline('Unique-id listing follows', maildrop.live().map((m) => `${m.number} ${m.uniqueId}`)));
    return 'ok';
  },
};
