// Every limit of the POP3 session (the wire layer's are in wire/constants.ts). Units last.
// Connections per port and per address, sessions per user and the idle time come from the
// server's FrontEndLimits; these are POP3's own.

/** Failed USER/PASS or AUTH attempts on one connection before it is closed. */
export const authFailuresMax = 3;
/**
 * Bad commands in a row (unknown, malformed, wrong state, overlong) that are answered -ERR with
 * the session going on; one more closes the connection. A good command resets the count.
 */
export const commandErrorsMax = 20;
/** RFC 1939 sec. 3: the autologout timer must be at least 10 minutes. */
export const idleMsMin = 10 * 60_000;
