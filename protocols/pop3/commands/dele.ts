// DELE msg (RFC 1939 sec. 5): marks only; the expunge happens at QUIT, in one transaction.
import { loggedIn, noSuchMessage, type Pop3CommandModule } from './index.js';

export const dele: Pop3CommandModule<'DELE'> = {
  states: ['transaction'],
  async handle(session, command) {
    if (!loggedIn(session).maildrop.markDeleted(command.message)) return noSuchMessage(session, command.message);
    await session.ok(`Message ${command.message} deleted`);
    return 'ok';
  },
};
