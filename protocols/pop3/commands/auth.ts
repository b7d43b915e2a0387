// AUTH (RFC 5034): PLAIN only (RFC 4616), with or without an initial response, and only on a
// TLS connection. AUTH with no mechanism lists the mechanisms usable now.
import { saslLineBytesMax } from '../wire/constants.js';
import { encodeMultiline, encodeSaslChallenge } from '../wire/encoder.js';
import { decodeSaslResponse } from '../wire/parser.js';
import type { Pop3Session } from '../session.js';
import type { Pop3CommandModule } from './index.js';

export const auth: Pop3CommandModule<'AUTH'> = {
  states: ['authorization'],
  async handle(session, command) {
    session.pendingUser = null;
    if (command.mechanism === undefined) {
      await session.write(encodeMultiline('Mechanisms follow', session.io.secure ? ['PLAIN'] : []));
      return 'ok';
    }
    if (!session.io.secure) {
      await session.err('Plaintext authentication is disallowed before STLS', 'AUTH');
      return 'no';
    }
    if (command.mechanism !== 'PLAIN') {
      await session.err(`Unsupported SASL mechanism ${command.mechanism}`);
      return 'no';
    }
    const response = command.initialResponse ?? (await challenge(session));
    if (response === null) return 'no';
    const parts = Buffer.from(response).toString('utf8').split('\0');
    if (parts.length !== 3 || parts[1]!.length === 0) {
      await session.err('Malformed PLAIN response');
      return 'no';
    }
    const [authzid, authcid, password] = parts as [string, string, string];
    if (authzid.length > 0 && authzid.toLowerCase() !== authcid.toLowerCase()) {
      await session.err('Logging in as another user is not allowed', 'AUTH');
      return 'no';
    }
    return session.login(authcid, password);
  },
};

/** Sends the empty challenge and reads one response line; null when it answered -ERR or closed. */
async function challenge(session: Pop3Session): Promise<Uint8Array | null> {
  await session.write(encodeSaslChallenge(new Uint8Array(0)));
  const event = await session.saslLine(saslLineBytesMax);
  if (event === null) return null;
  if (event.kind === 'error') {
    await session.err(event.text);
    return null;
  }
  const decoded = decodeSaslResponse(event.line);
  if (decoded === 'cancel') {
    await session.err('AUTH cancelled');
    return null;
  }
  if (decoded === undefined) {
    await session.err('Invalid base64 in SASL response');
    return null;
  }
  return decoded;
}
