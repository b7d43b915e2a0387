// The IMAP front end: port 1143 (STARTTLS, LOGINDISABLED until TLS) and 1993 (TLS from the first
// byte), one ImapSession per connection, and a BYE to every open session on shutdown.

import { listen, type Listener } from '../connection.js';
import type { FrontEnd, FrontEndContext, ListenPlan } from '../frontend.js';
import { ImapSession } from './session.js';

export async function startImap(context: FrontEndContext, plan: ListenPlan): Promise<FrontEnd> {
  const listeners: Listener[] = [];
  const open = (implicitTls: boolean, port: number): Promise<Listener> =>
    listen({
      host: plan.host,
      port,
      implicitTls,
      tls: context.tls,
      limits: context.limits,
      onConnection: (connection) => new ImapSession(connection, context).start(),
      refusal: (reason) => Buffer.from(`* BYE [LIMIT] Too many connections${reason === 'address' ? ' from your address' : ''}\r\n`),
    });
  try {
    listeners.push(await open(false, plan.port('imap')));
    listeners.push(await open(true, plan.port('imaps')));
  } catch (error) {
    await Promise.allSettled(listeners.map((l) => l.close()));
    throw error;
  }
  const [plain, secure] = listeners as [Listener, Listener];
  return {
    description: `IMAP           ${plan.host}:${plain.port} (STARTTLS), ${plan.host}:${secure.port} (TLS)`,
    ports: { imap: plain.port, imaps: secure.port },
    async close() {
      const farewell = Buffer.from('* BYE Server shutting down\r\n');
      await Promise.allSettled(listeners.map((l) => l.close(farewell)));
    },
  };
}
