// SEARCH / UID SEARCH with ESEARCH result options (RFC 4731: MIN MAX ALL COUNT), SAVE
// (RFC 5182 SEARCHRES) and MODSEQ (RFC 7162). A rev2 session always gets ESEARCH. Only UTF-8
// and US-ASCII charsets (RFC 9051 §6.4.4); others get NO [BADCHARSET].

import type { Result } from '../../../engine/errors.js';
import { evaluateSearch, type SearchOutcome } from '../search.js';
import type { ImapSession } from '../session.js';
import { encodeEsearch, encodeSearch } from '../wire/encoder.js';
import type { SearchKey, SearchReturnOption } from '../wire/types.js';
import { handler, selectedOnly } from './handler.js';

const charsets = ['UTF-8', 'US-ASCII'];

export function charsetSupported(charset: string | undefined): boolean {
  return charset === undefined || charsets.includes(charset.toUpperCase());
}

/** Runs a search in the session's view. */
export function runSearch(s: ImapSession, key: SearchKey): Promise<Result<SearchOutcome>> {
  const view = s.selected!;
  return evaluateSearch(view, key, { ...s.where(), folder: view.name }, Date.now());
}

export const search = handler<'SEARCH'>(selectedOnly, async (s, tag, c) => {
  const policy = { expunges: c.uid };
  if (!charsetSupported(c.charset)) {
    await s.no(tag, 'Unsupported charset', { code: 'BADCHARSET', charsets }, policy);
    return;
  }
  const view = s.selected!;
  const found = await runSearch(s, c.key);
  if (!found.ok) {
    if (c.returnOptions?.includes('SAVE')) view.saved = [];
    await s.fail(tag, found, policy);
    return;
  }
  // Ascending UIDs give ascending sequence numbers: MIN and MAX are the ends.
  const { uids, usedModseq } = found.value;
  if (usedModseq) s.enabled.condstore = true;
  const numbers = c.uid ? uids : uids.map((uid) => view.seqOf(uid));
  const modseqHighest = usedModseq && uids.length > 0 ? BigInt(uids.reduce((m, uid) => Math.max(m, view.modseqAt(view.seqOf(uid) - 1)), 0)) : undefined;
  const options: readonly SearchReturnOption[] | undefined = c.returnOptions ?? (s.enabled.rev2 ? ['ALL'] : undefined);
  if (options === undefined) {
    await s.write(encodeSearch(numbers, modseqHighest));
    await s.ok(tag, 'SEARCH completed', undefined, policy);
    return;
  }
  const asked = options.length === 0 ? ['ALL'] : options;
  if (asked.includes('SAVE')) {
    // RFC 5182 §2.4: with only MIN and/or MAX beside SAVE, just those are saved.
    const onlyEnds = !asked.includes('ALL') && !asked.includes('COUNT') && (asked.includes('MIN') || asked.includes('MAX'));
    view.saved = onlyEnds ? [...new Set([asked.includes('MIN') ? uids[0] : undefined, asked.includes('MAX') ? uids[uids.length - 1] : undefined].filter((u): u is number => u !== undefined))] : uids;
  }
  const reply = asked.filter((o) => o !== 'SAVE');
  if (reply.length > 0) {
    await s.write(
      encodeEsearch({
        tag,
        uid: c.uid,
        ...(reply.includes('MIN') && numbers.length > 0 ? { min: numbers[0]! } : {}),
        ...(reply.includes('MAX') && numbers.length > 0 ? { max: numbers[numbers.length - 1]! } : {}),
        ...(reply.includes('ALL') ? { all: numbers } : {}),
        ...(reply.includes('COUNT') ? { count: numbers.length } : {}),
        ...(modseqHighest === undefined ? {} : { modseq: modseqHighest }),
      }),
    );
  }
  await s.ok(tag, 'SEARCH completed', undefined, policy);
});
