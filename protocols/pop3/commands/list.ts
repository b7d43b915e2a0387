// LIST [msg] (RFC 1939 sec. 5): "number octets" for one message or every live one.
import { encodeMultiline } from '../wire/encoder.js';
import { loggedIn, noSuchMessage, type Pop3CommandModule } from './index.js';

export const list: Pop3CommandModule<'LIST'> = {
  states: ['transaction'],
  async handle(session, command) {
    const { maildrop } = loggedIn(session);
    if (command.message !== undefined) {
      const message = maildrop.get(command.message);
      if (message === undefined) return noSuchMessage(session, command.message);
      await session.ok(`${message.number} ${message.sizeBytes}`);
      return 'ok';
    }
    const { count, sizeBytes } = maildrop.stat();
    await session.write(encodeMultiline(`${count} messages (${sizeBytes} octets)`, maildrop.live().map((m) => `${m.number} ${m.sizeBytes}`)));
    return 'ok';
  },
};
