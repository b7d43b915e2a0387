// STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162 §3.1.3).
//
//   store           = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
//   store-modifiers = SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"
//   store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))

import type { Reader } from '../reader.js';
import type { Command, StoreOperation } from '../types.js';

export function parseStore(r: Reader, uid: boolean): Command {
  r.sp();
  const sequenceSet = r.sequenceSet();
  r.sp();
  let unchangedSince: bigint | undefined;
  if (r.peek() === 0x28 /* ( */) {
    r.list(() => {
      r.word('UNCHANGEDSINCE');
      r.sp();
      unchangedSince = r.number64();
    }, false);
    r.sp();
  }
  let operation: StoreOperation = 'replace';
  if (r.tryByte(0x2b /* + */)) operation = 'add';
  else if (r.tryByte(0x2d /* - */)) operation = 'remove';
  const item = r.atom().toUpperCase();
  if (item !== 'FLAGS' && item !== 'FLAGS.SILENT') r.fail(`Unknown STORE item ${item}`);
  r.sp();
  const flags = r.flags();
  r.expectEnd();
  return { kind: 'STORE', uid, sequenceSet, unchangedSince, operation, silent: item === 'FLAGS.SILENT', flags };
}
