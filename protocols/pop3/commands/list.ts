// LIST [msg] (RFC 1939 sec. 5): "number octets" for one message or every live one.
import { loggedIn, perMessageListing, type Pop3CommandModule } from './index.js';

export const list: Pop3CommandModule<'LIST'> = {
  states: ['transaction'],
  handle(session, command) {
    return perMessageListing(session, command.message, (m) => m.sizeBytes, () => {
      const { count, sizeBytes } = loggedIn(session).maildrop.stat();
      return `${count} messages (${sizeBytes} octets)`;
    });
  },
};
