// The command table: for each typed command (wire/types.ts Command), the states it is valid in
// and its handler. A command with no entry is answered BAD (not supported). Handlers write their
// own untagged data and end with exactly one tagged answer through the session.

export type { SessionState } from './handler.js';

import type { CommandKind } from '../wire/types.js';
import type { Handler } from './handler.js';
import { getacl, setacl, deleteacl, listrights, myrights } from './acl.js';
import { append } from './append.js';
import { authenticate, login, starttls } from './auth.js';
import { copy, move } from './copy.js';
import { expunge, uidExpunge } from './expunge.js';
import { fetch } from './fetch.js';
import { create, deleteMailbox, rename, subscribe, unsubscribe } from './mailboxes.js';
import { list, lsub } from './list.js';
import { capability, check, compress, enable, id, idle, logout, namespace, noop } from './misc.js';
import { getquota, getquotaroot, setquota } from './quota.js';
import { search } from './search.js';
import { close, examine, select, unselect } from './select.js';
import { sort, thread } from './sort.js';
import { status } from './status.js';
import { store } from './store.js';

export const handlers: { readonly [K in CommandKind]?: Handler<K> } = {
  CAPABILITY: capability,
  NOOP: noop,
  LOGOUT: logout,
  ID: id,
  STARTTLS: starttls,
  LOGIN: login,
  AUTHENTICATE: authenticate,
  ENABLE: enable,
  NAMESPACE: namespace,
  COMPRESS: compress,
  IDLE: idle,
  CHECK: check,
  SELECT: select,
  EXAMINE: examine,
  CLOSE: close,
  UNSELECT: unselect,
  CREATE: create,
  DELETE: deleteMailbox,
  RENAME: rename,
  SUBSCRIBE: subscribe,
  UNSUBSCRIBE: unsubscribe,
  LIST: list,
  LSUB: lsub,
  STATUS: status,
  APPEND: append,
  FETCH: fetch,
  STORE: store,
  EXPUNGE: expunge,
  'UID EXPUNGE': uidExpunge,
  SEARCH: search,
  SORT: sort,
  THREAD: thread,
  COPY: copy,
  MOVE: move,
  GETQUOTA: getquota,
  GETQUOTAROOT: getquotaroot,
  SETQUOTA: setquota,
  GETACL: getacl,
  SETACL: setacl,
  DELETEACL: deleteacl,
  LISTRIGHTS: listrights,
  MYRIGHTS: myrights,
};
