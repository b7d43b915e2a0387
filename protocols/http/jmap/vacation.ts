// VacationResponse/get and set (RFC 8621 sec. 8): the one object `singleton`, kept as the
// account document `vacation/singleton` (protocols/vacation.ts) in the mailbox database's log,
// which the delivery path reads to send the auto-reply. The state string is the kind's modseq;
// changing the settings starts a new period (every sender may be answered once again).

import { changeDocuments, kindStateAfter } from '../../documents.js';
import { type VacationSettings, vacationId, vacationKind, vacationOff } from '../../vacation.js';
import { unwrap } from './account.js';
import { documentState } from './collection.js';
import { type Args, type Method, MethodError, checkOwnAccount, setArguments, setResponse } from './core.js';

const singleton = vacationId;
const fields = ['isEnabled', 'fromDate', 'toDate', 'subject', 'textBody', 'htmlBody'] as const;
/** Longest subject and body (characters). */
export const vacationTextMax = 64 * 1024;

const objectOf = (settings: VacationSettings): Args => ({ id: singleton, ...settings });

function patched(settings: VacationSettings, patch: Args): VacationSettings {
  const invalid = (property: string, why: string) => new MethodError('invalidProperties', `${property}: ${why}`, { properties: [property] });
  const out: Record<string, unknown> = { ...settings };
  for (const [key, value] of Object.entries(patch)) {
    if (key === 'id') {
      if (value !== singleton) throw invalid('id', 'is immutable');
      continue;
    }
    if (!(fields as readonly string[]).includes(key)) throw invalid(key, 'unknown property');
    if (key === 'isEnabled') {
      if (typeof value !== 'boolean') throw invalid(key, 'must be a boolean');
    } else if (key === 'fromDate' || key === 'toDate') {
      if (value !== null && (typeof value !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value) || Number.isNaN(Date.parse(value)))) throw invalid(key, 'must be a UTCDate or null');
    } else if (value !== null && (typeof value !== 'string' || value.length > vacationTextMax)) throw invalid(key, `must be a string (at most ${vacationTextMax} characters) or null`);
    out[key] = value;
  }
  return out as unknown as VacationSettings;
}

export const vacationGet: Method = async (args, context) => {
  checkOwnAccount(args, context);
  const read = unwrap(await context.view.api.documents(context.account.mailboxId, vacationKind, { ids: [singleton] }));
  const settings = (read.documents[0]?.value as VacationSettings | undefined) ?? vacationOff;
  const ids = args.ids === null || args.ids === undefined ? [singleton] : (args.ids as unknown[]);
  if (!Array.isArray(ids)) throw new MethodError('invalidArguments', 'ids must be a list');
  return {
    accountId: context.accountId,
    state: documentState(read.modseqHighest),
    list: ids.includes(singleton) ? [objectOf(settings)] : [],
    notFound: ids.filter((id) => id !== singleton),
  };
};

export const vacationSet: Method = async (args, context) => {
  checkOwnAccount(args, context);
  const { creates, updates, destroys } = setArguments(args);
  const done = unwrap(
    await changeDocuments(context.view.api, context.account.mailboxId, [{ kind: vacationKind }], (read) => {
      const listing = read.get(vacationKind)!;
      const oldState = documentState(listing.modseqHighest);
      if (args.ifInState !== undefined && args.ifInState !== null && args.ifInState !== oldState) throw new MethodError('stateMismatch', 'ifInState does not match');
      const { out, put, refused } = setResponse(context.accountId, oldState);
      for (const [creationId] of creates) put('notCreated', creationId, { type: 'singleton', description: 'the VacationResponse exists already and is the only one' });
      for (const id of destroys) put('notDestroyed', id, { type: 'singleton', description: 'the VacationResponse cannot be destroyed' });
      let settings: VacationSettings | null = null;
      for (const [id, patch] of updates) {
        try {
          if (id !== singleton) throw new MethodError('notFound', `no VacationResponse ${id}`);
          settings = patched(settings ?? (listing.documents.find((d) => d.id === singleton)?.value as VacationSettings | undefined) ?? vacationOff, patch);
          put('updated', id, null);
        } catch (error) {
          refused('notUpdated', id, error);
        }
      }
      const ops = settings === null ? [] : [{ op: 'setDocument' as const, kind: vacationKind, id: singleton, value: settings }];
      return { result: { out, listing, ops }, ops };
    }),
  );
  const { out, listing, ops } = done.result;
  return { ...out, newState: documentState(kindStateAfter(vacationKind, listing, done.commit, ops)) };
};
