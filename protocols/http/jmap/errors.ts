// Engine failures (engine/errors.ts) as JMAP SetErrors (RFC 8620 5.3, RFC 8621).

import type { Failure } from '../../../engine/errors.js';
import { MethodError } from './core.js';

const setErrorTypes: Partial<Record<Failure['code'], string>> = {
  NO_SUCH_FOLDER: 'notFound',
  NO_SUCH_MESSAGE: 'notFound',
  FOLDER_EXISTS: 'alreadyExists',
  FOLDER_NOT_EMPTY: 'mailboxHasEmail',
  FOLDER_PROTECTED: 'forbidden',
  OVER_QUOTA: 'overQuota',
  TOO_BIG: 'tooLarge',
  INVALID_ARGUMENT: 'invalidProperties',
  NOT_AUTHORIZED: 'forbidden',
  MODIFIED: 'stateMismatch',
};

/** The SetError for a refused commit; a database that is down fails the whole method instead. */
export function setErrorOf(failure: Failure): { type: string; description: string } {
  if (failure.code === 'DATABASE_UNAVAILABLE' || failure.code === 'NOT_ACTIVE' || failure.code === 'LIMIT') throw new MethodError('serverUnavailable', failure.message);
  return { type: setErrorTypes[failure.code] ?? 'serverFail', description: failure.message };
}
