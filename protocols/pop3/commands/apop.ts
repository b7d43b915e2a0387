// APOP (RFC 1939 sec. 7) needs the plaintext password on the server; Quire keeps only scrypt
// hashes, so it is parsed but neither advertised (no timestamp in the greeting) nor accepted.
import type { Pop3CommandModule } from './index.js';

export const apop: Pop3CommandModule<'APOP'> = {
  states: ['authorization'],
  async handle(session) {
    await session.err('APOP is not supported; use STLS, then USER/PASS or AUTH PLAIN');
    return 'no';
  },
};
