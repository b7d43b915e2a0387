// UIDL [msg] (RFC 1939 sec. 7): "number unique-id"; ids stay the same across sessions.
import { perMessageListing, type Pop3CommandModule } from './index.js';

export const uidl: Pop3CommandModule<'UIDL'> = {
  states: ['transaction'],
  handle(session, command) {
    return perMessageListing(session, command.message, (m) => m.uniqueId, () => 'Unique-id listing follows');
  },
};
