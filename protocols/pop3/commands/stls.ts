// STLS (RFC 2595 sec. 4): only in AUTHORIZATION on a plain connection; plaintext pipelined
// behind it is dropped, and the session starts over with a fresh CAPA.
import type { Pop3CommandModule } from './index.js';

export const stls: Pop3CommandModule<'STLS'> = {
  states: ['authorization'],
  async handle(session) {
    if (session.io.secure) {
      await session.err('Already using TLS');
      return 'no';
    }
    session.pendingUser = null;
    await session.ok('Begin TLS negotiation');
    const secured = await session.startTls();
    if (!secured) session.log.info({}, 'STLS handshake failed');
    return secured ? 'ok' : 'no';
  },
};
