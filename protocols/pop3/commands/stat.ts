// STAT (RFC 1939 sec. 5): messages not marked deleted, and their octets.
import { loggedIn, type Pop3CommandModule } from './index.js';

export const stat: Pop3CommandModule<'STAT'> = {
  states: ['transaction'],
  async handle(session) {
    const { count, sizeBytes } = loggedIn(session).maildrop.stat();
    await session.ok(`${count} ${sizeBytes}`);
    return 'ok';
  },
};
