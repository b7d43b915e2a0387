// STARTTLS, LOGIN, AUTHENTICATE PLAIN (with SASL-IR). No password is taken before TLS
// (LOGINDISABLED, no AUTH= before STARTTLS); failures answer NO [AUTHENTICATIONFAILED] and are
// slowed down by the context; a session over the per-user limit gets NO [LIMIT].

import { errorInfo } from '../../../engine/errors.js';
import { authFailuresMax, saslResponseBytesMax } from '../constants.js';
import type { ImapSession } from '../session.js';
import { decodeBase64Strict } from '../wire/parser.js';
import { handler, notAuthenticated } from './handler.js';

export const starttls = handler<'STARTTLS'>(notAuthenticated, async (s, tag) => {
  if (s.io.secure) {
    await s.bad(tag, 'TLS is already active');
    return;
  }
  await s.ok(tag, 'Begin TLS negotiation now');
  await s.startTls();
});

export const login = handler<'LOGIN'>(notAuthenticated, async (s, tag, c) => {
  if (!s.io.secure) {
    await s.no(tag, 'LOGIN is disabled before STARTTLS', { code: 'PRIVACYREQUIRED' });
    return;
  }
  await signIn(s, tag, c.userid, c.password);
});

export const authenticate = handler<'AUTHENTICATE'>(notAuthenticated, async (s, tag, c) => {
  if (!s.io.secure) {
    await s.no(tag, 'Authentication is disabled before STARTTLS', { code: 'PRIVACYREQUIRED' });
    return;
  }
  if (c.mechanism !== 'PLAIN') {
    await s.no(tag, `Unsupported mechanism ${c.mechanism}`, { code: 'CANNOT' });
    return;
  }
  if (c.initialResponse !== undefined) {
    await plain(s, tag, c.initialResponse);
    return;
  }
  await s.write('+ \r\n');
  s.awaitLine(async (line) => {
    const text = Buffer.from(line).toString('latin1');
    if (text === '*') {
      await s.bad(tag, 'Authentication cancelled');
      return;
    }
    const decoded = line.length > saslResponseBytesMax ? undefined : decodeBase64Strict(text);
    if (decoded === undefined) {
      await s.bad(tag, 'Bad base64 in SASL response');
      return;
    }
    await plain(s, tag, decoded);
  });
});

/** RFC 4616: [authzid] NUL authcid NUL passwd; an authzid other than the user is refused. */
async function plain(s: ImapSession, tag: string, response: Uint8Array): Promise<void> {
  const parts = Buffer.from(response).toString('utf8').split('\0');
  if (parts.length !== 3 || parts[1] === '' || parts[2] === '') {
    await failed(s, tag, 'Malformed PLAIN response');
    return;
  }
  const [authzid, authcid, password] = parts as [string, string, string];
  if (authzid !== '' && authzid.toLowerCase() !== authcid.toLowerCase()) {
    await s.no(tag, 'Acting as another user is not allowed', { code: 'AUTHORIZATIONFAILED' });
    return;
  }
  await signIn(s, tag, authcid, password);
}

async function signIn(s: ImapSession, tag: string, login: string, password: string): Promise<void> {
  const peer = { protocol: 'imap' as const, address: s.io.remoteAddress };
  const result = await s.context.authenticate(login, password, peer);
  if (!result.ok) {
    if (result.code === 'AUTHENTICATION_FAILED') {
      await failed(s, tag, 'Invalid credentials');
      return;
    }
    await s.fail(tag, result);
    return;
  }
  const lease = s.context.openSession(result.value, peer);
  if (!lease.ok) {
    await s.no(tag, lease.code === 'LIMIT' ? 'Too many sessions for this user' : lease.message, { code: (errorInfo(lease.code).imap ?? 'LIMIT') as 'LIMIT' });
    return;
  }
  if (s.closed) {
    lease.value.release();
    return;
  }
  s.login(result.value, lease.value);
  s.log.info({ user: result.value.address }, 'imap login');
  await s.ok(tag, 'Logged in', { code: 'CAPABILITY', capabilities: s.capabilities() });
}

async function failed(s: ImapSession, tag: string, text: string): Promise<void> {
  s.authFailures++;
  await s.no(tag, text, { code: 'AUTHENTICATIONFAILED' });
  if (s.authFailures >= authFailuresMax) s.close('* BYE Too many failed logins\r\n');
}
