// Account documents written before they were events of the mailbox database: sessions 1-3 kept
// JMAP identities, email submissions and the vacation response (with whom it answered) as files
// <data>/accounts/<mailboxId>/<name>.json on one server. At start, each file is imported into
// its mailbox's log once (account documents, protocols/documents.ts), then renamed
// <name>.json.imported; nothing reads the files after that.
//
// Idempotent: the import commits only while the kinds it writes have never been written
// (expectDocuments of state 0), so an import that committed before a crash kept it from
// renaming the file answers MODIFIED the next time and the file is only renamed. A mailbox whose
// database is not active on this server keeps its files (the server holding it imports them
// when it has them; otherwise they wait for the next start here).

import { readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { MailboxApi, TxOp } from '../engine/api.js';
import { transactionOpsMax } from '../engine/constants.js';
import type { DirectoryUser } from '../engine/directory/directory.js';
import { identityKind, identitySeededKind } from '../protocols/http/jmap/identity.js';
import { submissionKind } from '../protocols/http/jmap/submission.js';
import { vacationId, vacationKind, vacationRepliedKind } from '../protocols/vacation.js';

export const accountDocumentsDir = (dataDir: string): string => join(dataDir, 'accounts');

/** The file names sessions 1-3 wrote, and the suffix a file gets once imported. */
export const legacyDocumentFiles = { identities: 'jmap-identities.json', submissions: 'jmap-submissions.json', vacation: 'vacation.json' } as const;
export const importedSuffix = '.imported';

/** A collection file (JMAP Identity, EmailSubmission) as collection.ts wrote it. */
interface LegacyCollection {
  readonly items: ReadonlyArray<{ readonly id: string; readonly value: unknown }>;
  readonly extra?: { readonly seeded?: readonly string[] };
}

/** The vacation file: the settings (version 0: never set) and sender → when answered. */
interface LegacyVacation {
  readonly version: number;
  readonly settings: unknown;
  readonly replied?: Readonly<Record<string, number>>;
}

export interface ImportOptions {
  readonly dataDir: string;
  readonly users: () => Promise<readonly DirectoryUser[]>;
  readonly apiFor: (database: string) => MailboxApi;
  /** Databases whose active copy is on this server: only their mailboxes are imported now. */
  readonly activeHere: (database: string) => boolean;
  readonly log: (line: string) => void;
}

export interface ImportReport {
  readonly imported: number;
  /** Files whose kinds were written already (an earlier import, or use since): renamed, not imported. */
  readonly alreadyThere: number;
  /** Files left for later (database not active here, unknown mailbox, unreadable, refused). */
  readonly left: number;
}

/** The ops that write one file's documents, and the kinds they write. */
function opsOf(name: string, text: string): { ops: TxOp[]; kinds: string[] } {
  if (name === legacyDocumentFiles.identities || name === legacyDocumentFiles.submissions) {
    const doc = JSON.parse(text) as LegacyCollection;
    const kind = name === legacyDocumentFiles.identities ? identityKind : submissionKind;
    const ops: TxOp[] = doc.items.map((item) => ({ op: 'setDocument', kind, id: item.id, value: item.value }));
    if (kind === identityKind) for (const address of doc.extra?.seeded ?? []) ops.push({ op: 'setDocument', kind: identitySeededKind, id: address, value: true });
    return { ops, kinds: kind === identityKind ? [identityKind, identitySeededKind] : [submissionKind] };
  }
  const doc = JSON.parse(text) as LegacyVacation;
  if (doc.version === 0) return { ops: [], kinds: [vacationKind, vacationRepliedKind] };
  // Answers are set after the settings, so their modseqs are higher: they count under these settings.
  const replied = Object.entries(doc.replied ?? {}).sort((a, b) => a[1] - b[1]).slice(-(transactionOpsMax - 1));
  const ops: TxOp[] = [{ op: 'setDocument', kind: vacationKind, id: vacationId, value: doc.settings }, ...replied.map(([sender, atMs]): TxOp => ({ op: 'setDocument', kind: vacationRepliedKind, id: sender, value: { atMs } }))];
  return { ops, kinds: [vacationKind, vacationRepliedKind] };
}

/** Imports every account document file still on disk into its mailbox's log (see the top of this file). */
export async function importAccountDocumentFiles(options: ImportOptions): Promise<ImportReport> {
  const report = { imported: 0, alreadyThere: 0, left: 0 };
  const root = accountDocumentsDir(options.dataDir);
  let mailboxIds: string[];
  try {
    mailboxIds = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return report; // no account documents were ever written here
  }
  const pending = new Map<string, string[]>();
  for (const mailboxId of mailboxIds) {
    const names = (await readdir(join(root, mailboxId))).filter((n) => (Object.values(legacyDocumentFiles) as string[]).includes(n));
    if (names.length > 0) pending.set(mailboxId, names);
  }
  if (pending.size === 0) return report;
  const byMailbox = new Map((await options.users()).map((u) => [u.mailboxId, u]));
  for (const [mailboxId, names] of pending) {
    const user = byMailbox.get(mailboxId);
    if (user === undefined || !options.activeHere(user.database)) {
      report.left += names.length;
      if (user === undefined) options.log(`account documents: ${mailboxId} is no user's mailbox; ${names.join(', ')} left in ${join(root, mailboxId)}`);
      continue;
    }
    const api = options.apiFor(user.database);
    for (const name of names) {
      const path = join(root, mailboxId, name);
      let planned: { ops: TxOp[]; kinds: string[] };
      try {
        planned = opsOf(name, await readFile(path, 'utf8'));
      } catch (error) {
        report.left += 1;
        options.log(`account documents: ${path} cannot be read (${(error as Error).message}); left in place`);
        continue;
      }
      if (planned.ops.length > 0) {
        const expectDocuments = Object.fromEntries(planned.kinds.map((kind) => [kind, 0]));
        const committed = await api.commit({ mailboxId, ops: planned.ops, expectDocuments });
        if (!committed.ok && committed.code !== 'MODIFIED') {
          report.left += 1;
          options.log(`account documents: importing ${path} into ${user.database} failed (${committed.code}: ${committed.message}); left in place`);
          continue;
        }
        if (committed.ok) report.imported += 1;
        else report.alreadyThere += 1;
      } else report.imported += 1;
      await rename(path, path + importedSuffix);
    }
  }
  if (report.imported + report.alreadyThere > 0) options.log(`account documents: ${report.imported} file(s) imported into the mailbox databases, ${report.alreadyThere} already there`);
  return report;
}
