// CAPA (RFC 2449 sec. 5): what this session can do now. Before TLS: STLS and no login
// mechanisms; after TLS in AUTHORIZATION: USER and SASL PLAIN; after login: neither.
import { encodeCapa } from '../wire/encoder.js';
import type { Pop3CommandModule } from './index.js';

export const capa: Pop3CommandModule<'CAPA'> = {
  states: ['authorization', 'transaction'],
  async handle(session) {
    const capabilities = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
    if (session.state === 'authorization') {
      if (session.io.secure) capabilities.push('USER', 'SASL PLAIN');
      else capabilities.push('STLS');
    }
    capabilities.push('IMPLEMENTATION Quire');
    await session.write(encodeCapa(capabilities));
    return 'ok';
  },
};
