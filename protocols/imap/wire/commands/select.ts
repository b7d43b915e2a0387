// SELECT / EXAMINE (RFC 9051 §6.3.2-3) with CONDSTORE and QRESYNC parameters (RFC 7162 §3.2.5).
//
//   select        = "SELECT" SP mailbox [select-params]
//   select-params = SP "(" select-param *(SP select-param) ")"
//   select-param  = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
//                   [SP known-uids] [SP seq-match-data] ")"
//   seq-match-data = "(" known-sequence-set SP known-uid-set ")"

import type { Reader } from '../reader.js';
import type { Command, QresyncParams, SequenceSet } from '../types.js';

export function parseSelect(r: Reader, kind: 'SELECT' | 'EXAMINE'): Command {
  r.sp();
  const mailbox = r.mailbox();
  let condstore = false;
  let qresync: QresyncParams | undefined;
  if (r.trySp()) {
    r.list(() => {
      if (r.tryWord('CONDSTORE')) {
        condstore = true;
        return;
      }
      r.word('QRESYNC');
      r.sp();
      qresync = parseQresync(r);
    }, false);
  }
  r.expectEnd();
  return { kind, mailbox, condstore, qresync };
}

function parseQresync(r: Reader): QresyncParams {
  r.expect(0x28);
  const uidValidity = r.nzNumber();
  r.sp();
  const modseq = r.number64();
  let knownUids: SequenceSet | undefined;
  let sequenceMatch: { sequences: SequenceSet; uids: SequenceSet } | undefined;
  if (r.trySp() && r.peek() !== 0x28) {
    knownUids = r.sequenceSet();
    if (!r.trySp()) {
      r.expect(0x29);
      return { uidValidity, modseq, knownUids, sequenceMatch };
    }
  }
  if (r.peek() === 0x28) {
    r.pos++;
    const sequences = r.sequenceSet();
    r.sp();
    const uids = r.sequenceSet();
    r.expect(0x29);
    sequenceMatch = { sequences, uids };
  }
  r.expect(0x29);
  return { uidValidity, modseq, knownUids, sequenceMatch };
}
