// The IMAP front end: port 1143 (STARTTLS, LOGINDISABLED until TLS) and 1993 (TLS from the first
// byte), one ImapSession per connection, and a BYE to every open session on shutdown.

import { listenPair } from '../connection.js';
import type { FrontEnd, FrontEndContext, ListenPlan } from '../frontend.js';
import { cachedMessageBytesMax, contentCacheBytesMax } from './constants.js';
import { ContentCache } from './contentcache.js';
import { ImapSession } from './session.js';

export async function startImap(context: FrontEndContext, plan: ListenPlan): Promise<FrontEnd> {
  const contentCache = new ContentCache(contentCacheBytesMax, cachedMessageBytesMax);
  const [plain, secure] = await listenPair(
    {
      host: plan.host,
      tls: context.tls,
      limits: context.limits,
      onConnection: (connection) => new ImapSession(connection, context, contentCache).start(),
      refusal: (reason) => Buffer.from(`* BYE [LIMIT] Too many connections${reason === 'address' ? ' from your address' : ''}\r\n`),
    },
    plan.port('imap'),
    plan.port('imaps'),
  );
  return {
    description: `IMAP           ${plan.host}:${plain.port} (STARTTLS), ${plan.host}:${secure.port} (TLS)`,
    ports: { imap: plain.port, imaps: secure.port },
    async close() {
      const farewell = Buffer.from('* BYE Server shutting down\r\n');
      await Promise.allSettled([plain.close(farewell), secure.close(farewell)]);
    },
  };
}
