// PASS string (RFC 1939 sec. 7): right after a USER; the whole rest of the line is the password.
import type { Pop3CommandModule } from './index.js';

export const pass: Pop3CommandModule<'PASS'> = {
  states: ['authorization'],
  async handle(session, command) {
    const name = session.pendingUser;
    session.pendingUser = null;
    if (name === null || !session.io.secure) {
      await session.err('Send USER first');
      return 'no';
    }
    return session.login(name, command.password);
  },
};
