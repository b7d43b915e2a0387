// NOOP (RFC 1939 sec. 5).
import type { Pop3CommandModule } from './index.js';

export const noop: Pop3CommandModule<'NOOP'> = {
  states: ['transaction'],
  async handle(session) {
    await session.ok();
    return 'ok';
  },
};
