// Every limit of the IMAP session layer, in one place, units last. The wire limits (line,
// literal, command bytes, parse depth) are in wire/constants.ts; the per-user, per-address and
// idle limits come from the FrontEndContext (protocols/frontend.ts).

/** Commands answered BAD in a row before the session is closed with BYE (a client that is not speaking IMAP). */
export const badCommandsInRowMax = 20;
/** Failed LOGIN/AUTHENTICATE on one connection before BYE (the context also slows failures down). */
export const authFailuresMax = 5;
/** Unread input held while a command runs before the socket is paused (back-pressure). */
export const pendingInputBytesMax = 1024 * 1024;
/** A FETCH reply is written to the socket in pieces of about this size. */
export const fetchWriteBytes = 64 * 1024;
/** SASL responses (AUTHENTICATE continuation lines) longer than this are refused. */
export const saslResponseBytesMax = 8 * 1024;
/** Messages appended by one MULTIAPPEND (the decoder's literal count also bounds it). */
export const appendMessagesMax = 64;
/** Room for command text and MULTIAPPEND siblings above one full-size literal (commandBytesMax). */
export const commandBytesOverLiteral = 4 * 1024 * 1024;
/** What the IMAP front end keeps of messages' immutable content for all its sessions (contentcache.ts). */
export const contentCacheBytesMax = 64 * 1024 * 1024;
/** Messages up to this size are kept whole in that cache (BODY[], RFC822); bigger ones are read each time. */
export const cachedMessageBytesMax = 128 * 1024;
