// Account documents through the mailbox API (engine/api.ts setDocument / destroyDocument): what
// JMAP (identities, email submissions, the vacation response) and the vacation responder keep
// per account, in the mailbox database's log like mail, so they replicate, fail over and move
// with the mailbox. A change is a read-modify-write: read what it depends on, plan the ops,
// commit naming the kinds' states read (expectDocuments), and start again when another writer
// got there first (MODIFIED).

import type { CommitResult, DocumentListing, MailboxApi, TxOp } from '../engine/api.js';
import { type Result, ok } from '../engine/errors.js';

/** Times a change is planned again after losing a race (MODIFIED), before it gives up. */
export const documentRetriesMax = 16;

/** What a change reads: a kind, all of it or only some ids. */
export interface DocumentRead {
  readonly kind: string;
  readonly ids?: readonly string[];
}

export interface DocumentChange<R> {
  readonly ops: readonly TxOp[];
  readonly result: R;
}

/**
 * Reads `reads` (the first time, takes `first` when the caller read them already), lets `change`
 * plan ops from them, and commits the ops only while none of the kinds read changed meanwhile;
 * on MODIFIED it reads and plans again (so `change` must have no other effect). Answers the
 * change's result and the commit (null when there were no ops).
 */
export async function changeDocuments<R>(
  api: MailboxApi,
  mailboxId: string,
  reads: readonly DocumentRead[],
  change: (read: ReadonlyMap<string, DocumentListing>) => DocumentChange<R>,
  first?: ReadonlyMap<string, DocumentListing>,
): Promise<Result<{ readonly result: R; readonly commit: CommitResult | null }>> {
  for (let attempt = 0; ; attempt++) {
    const read = new Map<string, DocumentListing>(attempt === 0 ? first : undefined);
    for (const { kind, ids } of reads) {
      if (read.has(kind)) continue;
      const listing = await api.documents(mailboxId, kind, ids === undefined ? {} : { ids });
      if (!listing.ok) return listing;
      read.set(kind, listing.value);
    }
    const { ops, result } = change(read);
    if (ops.length === 0) return ok({ result, commit: null });
    const expectDocuments = Object.fromEntries([...read].map(([kind, listing]) => [kind, listing.modseqHighest]));
    const committed = await api.commit({ mailboxId, ops, expectDocuments });
    if (committed.ok) return ok({ result, commit: committed.value });
    if (committed.code !== 'MODIFIED' || attempt >= documentRetriesMax) return committed;
  }
}

/** A kind's state after a commit: the highest state its document ops answered, else what was read. */
export function kindStateAfter(kind: string, read: DocumentListing, commit: CommitResult | null, ops: readonly TxOp[]): number {
  let state = read.modseqHighest;
  commit?.results.forEach((result, i) => {
    const op = ops[i];
    if ((result.op === 'setDocument' || result.op === 'destroyDocument') && op !== undefined && 'kind' in op && op.kind === kind) state = Math.max(state, result.state);
  });
  return state;
}
