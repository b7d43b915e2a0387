// Every limit of the POP3 wire layer. Units last in each name.

/** RFC 2449 §4: a command line is at most 255 octets, CRLF included. */
export const commandBytesMax = 255;
/**
 * SASL responses during AUTH are lines too, but carry base64 of whatever the mechanism needs
 * (RFC 5034 §4 lifts the 255-octet limit for them); GSSAPI tokens run to a few KiB.
 */
export const saslLineBytesMax = 16 * 1024;
/** RFC 2449 §4: arguments at most 40 octets (we allow the initial SASL response to be longer). */
export const argumentBytesMax = 40;
/** Message numbers are 1-based and fit 32 bits. */
export const messageNumberMax = 0xffff_ffff;
