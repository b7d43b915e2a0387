// CAPABILITY, NOOP, CHECK, LOGOUT, ID, ENABLE, NAMESPACE, IDLE, COMPRESS: the commands that
// touch no message.

import { otherUsersPrefix, publicPrefix } from '../places.js';
import { encodeCapability, encodeContinuation, encodeEnabled } from '../wire/encoder.js';
import { any, authenticated, authenticatedOnly, handler, selectedOnly } from './handler.js';

export const capability = handler<'CAPABILITY'>(any, async (s, tag) => {
  await s.write(encodeCapability(s.capabilities()));
  await s.ok(tag, 'CAPABILITY completed');
});

/** NOOP is the polling point: every pending update (expunges too) is said before the OK. */
export const noop = handler<'NOOP'>(any, async (s, tag) => {
  s.markDirty();
  await s.ok(tag, 'NOOP completed');
});

/** rev1 CHECK: every change is durable when answered already, so a NOOP. */
export const check = handler<'CHECK'>(selectedOnly, async (s, tag) => {
  s.markDirty();
  await s.ok(tag, 'CHECK completed');
});

export const logout = handler<'LOGOUT'>(any, async (s, tag) => {
  s.logout();
  await s.write('* BYE Logging out\r\n');
  await s.write(`${tag} OK LOGOUT completed\r\n`);
  s.close('');
});

export const id = handler<'ID'>(any, async (s, tag) => {
  const w = s.writer().raw('* ID (');
  w.string('name').sp().string('Quire').sp().string('vendor').sp().string('Quire').sp().string('support-url').sp().string('https://github.com/quire');
  await s.write(w.raw(')').crlf().toBuffer());
  await s.ok(tag, 'ID completed');
});

/** RFC 5161 ENABLE (authenticated state only, before a SELECT): extensions this server has; QRESYNC implies CONDSTORE (RFC 7162 §3.2.3). */
export const enable = handler<'ENABLE'>(authenticatedOnly, async (s, tag, c) => {
  const turned: string[] = [];
  for (const name of c.capabilities) {
    switch (name.toUpperCase()) {
      case 'CONDSTORE':
        if (!s.enabled.condstore) turned.push('CONDSTORE');
        s.enabled.condstore = true;
        break;
      case 'QRESYNC':
        if (!s.enabled.qresync) turned.push('QRESYNC');
        s.enabled.qresync = true;
        s.enabled.condstore = true;
        break;
      case 'UTF8=ACCEPT':
        if (!s.enabled.utf8) turned.push('UTF8=ACCEPT');
        s.enabled.utf8 = true;
        break;
      case 'IMAP4REV2':
        if (!s.enabled.rev2) turned.push('IMAP4rev2');
        s.enabled.rev2 = true;
        // RFC 9051 §2.1: a rev2 session has UTF-8 mailbox names.
        s.enabled.utf8 = true;
        break;
      default:
        break;
    }
  }
  await s.write(encodeEnabled(turned));
  await s.ok(tag, 'ENABLE completed');
});

export const namespace = handler<'NAMESPACE'>(authenticated, async (s, tag) => {
  // RFC 2342: personal, other users' (folders shared with this user), shared (public folders).
  await s.write(`* NAMESPACE (("" "/")) (("${otherUsersPrefix}/" "/")) (("${publicPrefix}/" "/"))\r\n`);
  await s.ok(tag, 'NAMESPACE completed');
});

/** RFC 2177 / 9051 §6.3.13: updates are sent as they happen until DONE. */
export const idle = handler<'IDLE'>(authenticated, async (s, tag) => {
  await s.write(encodeContinuation('idling'));
  s.startIdle(tag);
});

/** RFC 4978: answered in the clear, then both directions are deflated. */
export const compress = handler<'COMPRESS'>(authenticated, async (s, tag, c) => {
  if (s.io.compressed) {
    await s.no(tag, 'Compression is already active', { code: 'COMPRESSIONACTIVE' });
    return;
  }
  if (c.mechanism.toUpperCase() !== 'DEFLATE') {
    await s.bad(tag, `Unknown compression mechanism ${c.mechanism}`);
    return;
  }
  await s.ok(tag, 'DEFLATE active');
  s.io.startCompression();
});
