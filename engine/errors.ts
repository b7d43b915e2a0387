// The one catalogue of expected failures. Every operating error a front end can meet is a
// value with one of these codes; each code maps to the answer of every protocol, so IMAP,
// POP3, SMTP and HTTP say the same thing about the same failure. Programmer errors are not
// here: they are asserts (see engine/assert.ts).

export interface ErrorInfo {
  /** IMAP response code (RFC 5530 and friends), without brackets; null when there is none. */
  readonly imap: string | null;
  /** IMAP status: NO for refusals, BAD for protocol misuse. */
  readonly imapStatus: 'NO' | 'BAD';
  /** POP3 extended response code (RFC 2449/3206), without brackets. */
  readonly pop3: string | null;
  /** SMTP reply code and enhanced status code (RFC 3463). */
  readonly smtp: readonly [number, string];
  /** HTTP status for the admin API and JMAP. */
  readonly http: number;
  /** True when trying the same thing again later may succeed. */
  readonly retriable: boolean;
}

export const errorCatalogue = {
  NO_SUCH_FOLDER: { imap: 'NONEXISTENT', imapStatus: 'NO', pop3: null, smtp: [550, '5.1.1'], http: 404, retriable: false },
  NO_SUCH_MESSAGE: { imap: 'NONEXISTENT', imapStatus: 'NO', pop3: null, smtp: [550, '5.1.1'], http: 404, retriable: false },
  NO_SUCH_MAILBOX: { imap: 'NONEXISTENT', imapStatus: 'NO', pop3: null, smtp: [550, '5.1.1'], http: 404, retriable: false },
  NO_SUCH_USER: { imap: 'NONEXISTENT', imapStatus: 'NO', pop3: null, smtp: [550, '5.1.1'], http: 404, retriable: false },
  NO_SUCH_DATABASE: { imap: 'NONEXISTENT', imapStatus: 'NO', pop3: 'SYS/PERM', smtp: [550, '5.1.1'], http: 404, retriable: false },
  FOLDER_EXISTS: { imap: 'ALREADYEXISTS', imapStatus: 'NO', pop3: null, smtp: [550, '5.1.1'], http: 409, retriable: false },
  USER_EXISTS: { imap: 'ALREADYEXISTS', imapStatus: 'NO', pop3: null, smtp: [550, '5.1.1'], http: 409, retriable: false },
  FOLDER_NOT_EMPTY: { imap: 'INUSE', imapStatus: 'NO', pop3: null, smtp: [550, '5.1.1'], http: 409, retriable: false },
  FOLDER_PROTECTED: { imap: 'CANNOT', imapStatus: 'NO', pop3: null, smtp: [550, '5.7.1'], http: 403, retriable: false },
  OVER_QUOTA: { imap: 'OVERQUOTA', imapStatus: 'NO', pop3: null, smtp: [552, '5.2.2'], http: 507, retriable: false },
  UIDVALIDITY_CHANGED: { imap: 'UIDNOTSTICKY', imapStatus: 'NO', pop3: null, smtp: [451, '4.3.0'], http: 409, retriable: true },
  MODIFIED: { imap: 'MODIFIED', imapStatus: 'NO', pop3: null, smtp: [451, '4.3.0'], http: 409, retriable: true },
  TOO_BIG: { imap: 'TOOBIG', imapStatus: 'NO', pop3: null, smtp: [552, '5.3.4'], http: 413, retriable: false },
  INVALID_ARGUMENT: { imap: 'CLIENTBUG', imapStatus: 'BAD', pop3: null, smtp: [501, '5.5.4'], http: 400, retriable: false },
  AUTHENTICATION_FAILED: { imap: 'AUTHENTICATIONFAILED', imapStatus: 'NO', pop3: 'AUTH', smtp: [535, '5.7.8'], http: 401, retriable: false },
  NOT_AUTHORIZED: { imap: 'NOPERM', imapStatus: 'NO', pop3: 'AUTH', smtp: [550, '5.7.1'], http: 403, retriable: false },
  IN_USE: { imap: 'INUSE', imapStatus: 'NO', pop3: 'IN-USE', smtp: [451, '4.3.0'], http: 423, retriable: true },
  DATABASE_UNAVAILABLE: { imap: 'UNAVAILABLE', imapStatus: 'NO', pop3: 'SYS/TEMP', smtp: [451, '4.3.0'], http: 503, retriable: true },
  DIRECTORY_UNAVAILABLE: { imap: 'UNAVAILABLE', imapStatus: 'NO', pop3: 'SYS/TEMP', smtp: [451, '4.4.3'], http: 503, retriable: true },
  NOT_ACTIVE: { imap: 'UNAVAILABLE', imapStatus: 'NO', pop3: 'SYS/TEMP', smtp: [451, '4.3.0'], http: 503, retriable: true },
  CORRUPT: { imap: 'SERVERBUG', imapStatus: 'NO', pop3: 'SYS/PERM', smtp: [451, '4.3.0'], http: 500, retriable: false },
  DISK_FULL: { imap: 'LIMIT', imapStatus: 'NO', pop3: 'SYS/TEMP', smtp: [452, '4.3.1'], http: 507, retriable: true },
  /** BINARY of a part whose Content-Transfer-Encoding cannot be undone (RFC 3516). */
  UNKNOWN_CTE: { imap: 'UNKNOWN-CTE', imapStatus: 'NO', pop3: null, smtp: [554, '5.6.1'], http: 422, retriable: false },
  LIMIT: { imap: 'LIMIT', imapStatus: 'NO', pop3: 'SYS/TEMP', smtp: [452, '4.5.3'], http: 429, retriable: true },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof errorCatalogue;

/** An expected failure: a code from the catalogue plus a sentence for a human. */
export interface Failure {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message: string;
}

export type Result<T> = { readonly ok: true; readonly value: T } | Failure;

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail(code: ErrorCode, message: string): Failure {
  return { ok: false, code, message };
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(errorCatalogue, code);
}

export function errorInfo(code: ErrorCode): ErrorInfo {
  return errorCatalogue[code];
}

/** The IMAP tagged answer for a failure, e.g. `NO [OVERQUOTA] Quota exceeded`. */
export function imapAnswer(failure: Failure): string {
  const info = errorInfo(failure.code);
  const code = info.imap === null ? '' : `[${info.imap}] `;
  return `${info.imapStatus} ${code}${failure.message}`;
}

/** The SMTP reply for a failure, e.g. `552 5.2.2 Mailbox full`. */
export function smtpAnswer(failure: Failure): { code: number; enhanced: string; message: string } {
  const [code, enhanced] = errorInfo(failure.code).smtp;
  return { code, enhanced, message: failure.message };
}

/** The POP3 -ERR line for a failure, e.g. `-ERR [SYS/TEMP] Database unavailable`. */
export function pop3Answer(failure: Failure): string {
  const info = errorInfo(failure.code);
  return `-ERR ${info.pop3 === null ? '' : `[${info.pop3}] `}${failure.message}`;
}

/** A thrown failure crossing an async boundary (IPC, HTTP) carries its code back into a value. */
export class QuireError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'QuireError';
  }
  toFailure(): Failure {
    return fail(this.code, this.message);
  }
}
