// SORT and THREAD (RFC 5256) over the messages a search key matches; the keys and algorithms
// are in thread.ts. ESORT result options are not offered (not advertised), so RETURN is BAD.

import type { MessageContent } from '../../../engine/api.js';
import { summariesOf } from '../content.js';
import type { ImapSession } from '../session.js';
import { sortValue, threadOrderedSubject, threadReferences, threadText } from '../thread.js';
import { handler, selectedOnly } from './handler.js';
import { charsetSupported, runSearch } from './search.js';
import type { SearchKey } from '../wire/types.js';

async function matching(s: ImapSession, tag: string, uid: boolean, charset: string, key: SearchKey): Promise<MessageContent[] | null> {
  const policy = { expunges: uid };
  if (!charsetSupported(charset)) {
    await s.no(tag, 'Unsupported charset', { code: 'BADCHARSET', charsets: ['UTF-8', 'US-ASCII'] }, policy);
    return null;
  }
  const view = s.selected!;
  const found = await runSearch(s, key);
  if (!found.ok) {
    await s.fail(tag, found, policy);
    return null;
  }
  const summaries = await summariesOf({ ...s.where(), folder: view.name }, found.value.uids);
  if (!summaries.ok) {
    await s.fail(tag, summaries, policy);
    return null;
  }
  return found.value.uids.map((u) => summaries.value.get(u)).filter((m): m is MessageContent => m !== undefined);
}

export const sort = handler<'SORT'>(selectedOnly, async (s, tag, c) => {
  if (c.returnOptions !== undefined) {
    await s.bad(tag, 'SORT RETURN (ESORT) is not supported');
    return;
  }
  const messages = await matching(s, tag, c.uid, c.charset, c.key);
  if (messages === null) return;
  const view = s.selected!;
  const keyed = messages.map((m) => ({ m, seq: view.seqOf(m.uid), values: c.criteria.map((k) => sortValue(m, k.key)) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < c.criteria.length; i++) {
      const x = a.values[i]!;
      const y = b.values[i]!;
      const order = x < y ? -1 : x > y ? 1 : 0;
      if (order !== 0) return c.criteria[i]!.reverse ? -order : order;
    }
    return a.seq - b.seq;
  });
  const numbers = keyed.map((k) => (c.uid ? k.m.uid : k.seq));
  await s.write(`* SORT${numbers.map((n) => ` ${n}`).join('')}\r\n`);
  await s.ok(tag, 'SORT completed', undefined, { expunges: c.uid });
});

export const thread = handler<'THREAD'>(selectedOnly, async (s, tag, c) => {
  const algorithm = c.algorithm.toUpperCase();
  if (algorithm !== 'REFERENCES' && algorithm !== 'ORDEREDSUBJECT') {
    await s.bad(tag, `Unknown THREAD algorithm ${c.algorithm}`);
    return;
  }
  const messages = await matching(s, tag, c.uid, c.charset, c.key);
  if (messages === null) return;
  const view = s.selected!;
  const numberOf = (m: MessageContent): number => (c.uid ? m.uid : view.seqOf(m.uid));
  const roots = algorithm === 'REFERENCES' ? threadReferences(messages, numberOf) : threadOrderedSubject(messages, numberOf);
  await s.write(`* THREAD${roots.length > 0 ? ' ' + threadText(roots) : ''}\r\n`);
  await s.ok(tag, 'THREAD completed', undefined, { expunges: c.uid });
});
