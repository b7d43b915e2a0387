// USER name (RFC 1939 sec. 7): only on a TLS connection (contract: no password before TLS).
import type { Pop3CommandModule } from './index.js';

export const user: Pop3CommandModule<'USER'> = {
  states: ['authorization'],
  async handle(session, command) {
    if (!session.io.secure) {
      session.pendingUser = null;
      await session.err('Plaintext authentication is disallowed before STLS', 'AUTH');
      return 'no';
    }
    session.pendingUser = command.name;
    await session.ok('Send PASS');
    return 'ok';
  },
};
