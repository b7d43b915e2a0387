// RSET (RFC 1939 sec. 5): unmarks every message marked deleted.
import { loggedIn, type Pop3CommandModule } from './index.js';

export const rset: Pop3CommandModule<'RSET'> = {
  states: ['transaction'],
  async handle(session) {
    const { maildrop } = loggedIn(session);
    maildrop.reset();
    const { count, sizeBytes } = maildrop.stat();
    await session.ok(`Maildrop has ${count} messages (${sizeBytes} octets)`);
    return 'ok';
  },
};
