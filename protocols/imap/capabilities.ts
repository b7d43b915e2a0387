// What the server advertises, by session state. A capability is listed only when every part of
// it works (protocols/imap/README.md has the table); the pre-login lists are short so that a
// client learns the rest from the CAPABILITY response code of its LOGIN/AUTHENTICATE answer.

export interface CapabilityState {
  readonly secure: boolean;
  readonly authenticated: boolean;
  readonly compressed: boolean;
  readonly appendLimitBytes: number;
}

const always = ['IMAP4rev1', 'IMAP4rev2', 'ID', 'ENABLE', 'LITERAL+', 'SASL-IR'];

/** The extensions that hold in every state once logged in. */
const afterLogin = [
  'IDLE',
  'NAMESPACE',
  'UIDPLUS',
  'MOVE',
  'CONDSTORE',
  'QRESYNC',
  'UNSELECT',
  'CHILDREN',
  'SPECIAL-USE',
  'CREATE-SPECIAL-USE',
  'LIST-EXTENDED',
  'LIST-STATUS',
  'STATUS=SIZE',
  'ESEARCH',
  'SEARCHRES',
  'WITHIN',
  'MULTIAPPEND',
  'BINARY',
  'UTF8=ACCEPT',
  'OBJECTID',
  'QUOTA',
  'QUOTA=RES-STORAGE',
  'SORT',
  'THREAD=REFERENCES',
  'THREAD=ORDEREDSUBJECT',
  'ACL',
  'RIGHTS=texk',
  'LIST-MYRIGHTS',
];

export function capabilities(state: CapabilityState): string[] {
  const list = [...always];
  if (!state.secure) list.push('STARTTLS', 'LOGINDISABLED');
  else if (!state.authenticated) list.push('AUTH=PLAIN');
  if (state.authenticated) {
    list.push(...afterLogin, `APPENDLIMIT=${state.appendLimitBytes}`);
    if (!state.compressed) list.push('COMPRESS=DEFLATE');
  }
  return list;
}
