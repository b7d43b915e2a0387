// Adding and removing a user touches two stores: the directory (who the user is, where the
// mailbox lives) and the mailbox database (the mailbox itself, with its default folders).
// One piece of code does both for the running server's admin API and for the offline CLI, and
// undoes the directory change if the database refuses, so neither is left half-done.

import type { MailboxApi } from '../engine/api.js';
import type { Directory, DirectoryUser } from '../engine/directory/index.js';
import { type Result, fail, ok } from '../engine/errors.js';

export interface UserInput {
  readonly address: string;
  readonly password: string;
  readonly database?: string;
  readonly quotaBytes?: number | null;
  readonly displayName?: string;
}

export async function addUser(
  directory: Directory,
  databases: readonly string[],
  apiFor: (database: string) => MailboxApi,
  input: UserInput,
): Promise<Result<DirectoryUser>> {
  const database = input.database ?? databases[0]!;
  if (!databases.includes(database)) return fail('NO_SUCH_DATABASE', `no database ${database} (have ${databases.join(', ')})`);
  const added = await directory.addUser({
    address: input.address,
    password: input.password,
    database,
    quotaBytes: input.quotaBytes ?? null,
    ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
  });
  if (!added.ok) return added;
  const user = added.value;
  const created = await apiFor(database).commit({
    mailboxId: user.mailboxId,
    ops: [{ op: 'createMailbox', address: user.address, quotaBytes: user.quotaBytes }],
  });
  if (!created.ok) {
    await directory.removeUser(user.address);
    return created;
  }
  return ok(user);
}

export async function removeUser(directory: Directory, apiFor: (database: string) => MailboxApi, address: string): Promise<Result<DirectoryUser>> {
  const user = await directory.findUser(address);
  if (user === null || user.address !== address.toLowerCase()) return fail('NO_SUCH_USER', `no user ${address}`);
  const removed = await apiFor(user.database).commit({ mailboxId: user.mailboxId, ops: [{ op: 'deleteMailbox', address: user.address }] });
  if (!removed.ok && removed.code !== 'NO_SUCH_MAILBOX') return removed;
  return directory.removeUser(user.address);
}

export async function setQuota(directory: Directory, apiFor: (database: string) => MailboxApi, address: string, quotaBytes: number | null): Promise<Result<void>> {
  const user = await directory.findUser(address);
  if (user === null) return fail('NO_SUCH_USER', `no user ${address}`);
  const set = await directory.setQuota(user.address, quotaBytes);
  if (!set.ok) return set;
  const committed = await apiFor(user.database).commit({ mailboxId: user.mailboxId, ops: [{ op: 'setQuota', quotaBytes }] });
  return committed.ok ? ok(undefined) : committed;
}

/** What `quire user list` shows, with the mailbox's size when its database answers. */
export async function listUsers(directory: Directory, apiFor: (database: string) => MailboxApi) {
  const users = await directory.listUsers();
  return Promise.all(
    users.map(async (u) => {
      const info = await apiFor(u.database).mailbox(u.mailboxId);
      return { address: u.address, database: u.database, quotaBytes: u.quotaBytes, usedBytes: info.ok ? info.value.usedBytes : null, aliases: u.aliases };
    }),
  );
}
