// The POP3 front end: 1110 (STLS) and 1995 (TLS from the first byte), one maildrop lock table
// for both, one Pop3Session per connection.

import { listenPair } from '../connection.js';
import type { FrontEnd, FrontEndContext, ListenPlan } from '../frontend.js';
import { MaildropLocks } from './maildrop.js';
import { Pop3Session } from './session.js';
import { encodeErr } from './wire/encoder.js';

export async function startPop3(context: FrontEndContext, plan: ListenPlan): Promise<FrontEnd> {
  const locks = new MaildropLocks();
  const [plain, secure] = await listenPair(
    {
      host: plan.host,
      tls: context.tls,
      limits: context.limits,
      onConnection: (connection) => void new Pop3Session(connection, context, locks).run(),
      refusal: (reason) => encodeErr(reason === 'address' ? 'Too many connections from your address' : 'Too many connections', 'SYS/TEMP'),
    },
    plan.port('pop3'),
    plan.port('pop3s'),
  );
  const farewell = encodeErr('Server shutting down', 'SYS/TEMP');
  return {
    description: `POP3 ${plan.host}:${plain.port} (STLS), ${plan.host}:${secure.port} (TLS)`,
    ports: { pop3: plain.port, pop3s: secure.port },
    async close() {
      await Promise.all([plain.close(farewell), secure.close(farewell)]);
    },
  };
}
