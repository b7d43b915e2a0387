// Every limit of the SMTP, submission and LMTP front end, units last.

/** Recipients (RCPT commands accepted) in one transaction; the next gets 452 4.5.3 (RFC 5321 sec. 4.5.3.1.8 asks for at least 100). */
export const recipientsPerTransactionMax = 100;
/**
 * Room kept below the engine's message size for the trace headers added at delivery
 * (Return-Path, Delivered-To, Received, Authentication-Results), so that a message of exactly
 * the advertised SIZE still fits the mailbox API once they are prepended.
 */
export const traceHeadersBytesMax = 8 * 1024;
/** Received headers already in a message beyond which it is refused as looping (RFC 5321 sec. 6.3). */
export const receivedHopsMax = 50;
/** SMTP's own idle limit (RFC 5321 sec. 4.5.3.2.7 suggests 5 minutes); the front-end idle limit applies when lower. */
export const smtpIdleMsMax = 5 * 60_000;
/** How long close() waits for sessions in a transaction before cutting them. */
export const closeGraceMs = 2_000;
/** Commands without a valid transaction before the client is dropped (smtp-server's maxAllowedUnauthenticatedCommands). */
export const unauthenticatedCommandsMax = 20;
/** ENVID of MAIL FROM, xtext-encoded (RFC 3461 sec. 4.4: at most 100 characters); longer gets 501 5.5.4. */
export const dsnEnvidCharsMax = 100;
/** ORCPT of RCPT TO, xtext-encoded (RFC 3461 sec. 4.2: at most 500 characters); longer gets 501 5.5.4. */
export const dsnOrcptCharsMax = 500;
