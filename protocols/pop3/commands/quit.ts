// QUIT (RFC 1939 sec. 6): in TRANSACTION, the UPDATE state: every message marked deleted is
// expunged in one durable transaction (all or nothing), and only then +OK. If the commit
// fails, -ERR with the catalogue's code and nothing is deleted. The connection closes either way.
import { begin } from '../../../engine/api.js';
import { pop3Answer } from '../../../engine/errors.js';
import { encodeOk } from '../wire/encoder.js';
import type { Pop3CommandModule } from './index.js';

export const quit: Pop3CommandModule<'QUIT'> = {
  states: ['authorization', 'transaction'],
  async handle(session) {
    const farewell = `${session.context.hostname} Quire POP3 signing off`;
    const state = session.loggedIn;
    if (session.state === 'authorization' || state === null) {
      session.end(encodeOk(farewell));
      return 'ok';
    }
    const uids = state.maildrop.deletedUids();
    if (uids.length > 0) {
      const committed = await begin(state.api, state.account.mailboxId)
        .expectUidValidity('INBOX', state.maildrop.uidValidity)
        .expunge('INBOX', uids)
        .commit();
      if (!committed.ok) {
        session.log.warn({ code: committed.code, messages: uids.length }, 'POP3 deletions not committed');
        session.end(pop3Answer({ ...committed, message: `Messages not deleted: ${committed.message}` }) + '\r\n');
        return 'no';
      }
    }
    const { count } = state.maildrop.stat();
    session.end(encodeOk(`${farewell} (${count} messages left)`));
    return 'ok';
  },
};
