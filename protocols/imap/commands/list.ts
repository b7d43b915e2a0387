// LIST (RFC 9051 §6.3.9) with LIST-EXTENDED selection and return options (RFC 5258),
// LIST-STATUS (RFC 5819), SPECIAL-USE (RFC 6154) and CHILDREN; and rev1's LSUB. Hierarchy
// delimiter `/`; a parent that exists only through its children is \NonExistent (\Noselect).

import type { FolderInfo, MailboxApi } from '../../../engine/api.js';
import { allRights, effectiveRights, has } from '../../acl.js';
import { otherUsersPrefix, publicPrefix, visiblePublicFolders, withObsoleteRights } from '../places.js';
import type { ImapSession } from '../session.js';
import { encodeList, type ListEntry } from '../wire/encoder.js';
import type { Command } from '../wire/types.js';
import { authenticated, handler } from './handler.js';
import { statusLine } from './status.js';

const delimiter = '/';

/**
 * A LIST pattern as a matcher: `*` any run, `%` any run without the delimiter. Not a regular
 * expression: patterns come from clients and may be a line long. Runs of wildcards collapse,
 * a pattern with more literal characters than the name is rejected at once, and the match is a
 * dynamic program over (pattern, name), so a match costs at most |pattern| x |name| steps.
 */
export function listMatcher(reference: string, pattern: string): (name: string) => boolean {
  let full = reference + pattern;
  // INBOX is case-insensitive, so a pattern naming it is too.
  if (/^inbox(\/|$)/i.test(full)) full = 'INBOX' + full.slice(5);
  const tokens: string[] = [];
  for (const ch of full) {
    const last = tokens[tokens.length - 1];
    if ((ch === '*' || ch === '%') && (last === '*' || last === '%')) {
      if (ch === '*') tokens[tokens.length - 1] = '*';
      continue;
    }
    tokens.push(ch);
  }
  const literals = tokens.filter((t) => t !== '*' && t !== '%').length;
  return (name: string) => {
    const chars = [...name];
    if (literals > chars.length) return false;
    // row[j]: tokens[0..i) match chars[0..j).
    let row = new Array<boolean>(chars.length + 1).fill(false);
    row[0] = true;
    for (const token of tokens) {
      const next = new Array<boolean>(chars.length + 1).fill(false);
      if (token === '*' || token === '%') {
        next[0] = row[0]!;
        for (let j = 1; j <= chars.length; j++) next[j] = row[j]! || (next[j - 1]! && (token === '*' || chars[j - 1] !== delimiter));
      } else {
        for (let j = 1; j <= chars.length; j++) next[j] = row[j - 1]! && chars[j - 1] === token;
      }
      row = next;
    }
    return row[chars.length]!;
  };
}

interface Node {
  readonly name: string;
  readonly folder: FolderInfo | undefined;
  hasChildren: boolean;
  subscribedChild: boolean;
}

/** Every folder plus the parents that exist only through their children. */
function tree(folders: readonly FolderInfo[]): Map<string, Node> {
  const nodes = new Map<string, Node>();
  for (const folder of folders) nodes.set(folder.name, { name: folder.name, folder, hasChildren: false, subscribedChild: false });
  for (const folder of folders) {
    const parts = folder.name.split(delimiter);
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join(delimiter);
      let node = nodes.get(parent);
      if (node === undefined) {
        node = { name: parent, folder: undefined, hasChildren: false, subscribedChild: false };
        nodes.set(parent, node);
      }
      node.hasChildren = true;
      if (folder.subscribed) node.subscribedChild = true;
    }
  }
  return nodes;
}

type ListCommand = Extract<Command, { kind: 'LIST' }>;

export const list = handler<'LIST'>(authenticated, async (s, tag, c) => {
  if (c.patterns.length === 1 && c.patterns[0] === '' && !c.extended) {
    // RFC 9051 §6.3.9: the hierarchy delimiter and root.
    await s.write('* LIST (\\Noselect) "/" ""\r\n');
    await s.ok(tag, 'LIST completed');
    return;
  }
  const folders = await s.api!.folders(s.account!.mailboxId);
  if (!folders.ok) {
    await s.fail(tag, folders);
    return;
  }
  const matchers = c.patterns.map((p) => listMatcher(c.reference, p));
  // Public folders the user may see, under their namespace; a database that cannot answer
  // leaves its folders out of this listing rather than failing the user's own.
  const shared = new Map<string, { api: MailboxApi; mailboxId: string; rights: string; folder: string }>();
  const sharedInfos: FolderInfo[] = [];
  if (matchers.some((matches) => matches(publicPrefix) || matches(`${publicPrefix}/x`) || matches(`${publicPrefix}/`))) {
    const visible = await visiblePublicFolders(s);
    if (visible.ok) {
      for (const { folder, rights } of visible.value) {
        const name = `${publicPrefix}/${folder.path}`;
        shared.set(name, { api: s.context.mailboxes(folder.database), mailboxId: folder.mailboxId, rights, folder: folder.path });
        sharedInfos.push({ ...folder.folder, name, subscribed: false });
      }
    } else s.log.warn({ code: visible.code, err: visible.message }, 'public folders left out of LIST');
  }
  // Other users' folders shared with this user (their ACL names the user or anyone).
  const sharedWith = s.context.publicFolders?.sharedWith;
  if (sharedWith !== undefined && matchers.some((matches) => matches(otherUsersPrefix) || matches(`${otherUsersPrefix}/x/y`) || matches(`${otherUsersPrefix}/`))) {
    const found = await sharedWith.call(s.context.publicFolders, s.account!.address);
    if (found.ok) {
      for (const { owner, database, mailboxId, folder } of found.value) {
        const rights = effectiveRights(folder.acl, s.account!.address, false);
        if (!has(rights, 'l')) continue;
        const name = `${otherUsersPrefix}/${owner}/${folder.name}`;
        shared.set(name, { api: s.context.mailboxes(database), mailboxId, rights, folder: folder.name });
        // Another user's special-use folders are not this user's Sent or Trash.
        sharedInfos.push({ ...folder, name, subscribed: false, specialUse: null });
      }
    } else s.log.warn({ code: found.code, err: found.message }, 'shared folders left out of LIST');
  }
  const nodes = tree([...folders.value, ...sharedInfos]);
  const out: Buffer[] = [];
  const options = { utf8: s.enabled.utf8 };
  for (const node of [...nodes.values()].sort((a, b) => compareNames(a.name, b.name))) {
    if (!matchers.some((matches) => matches(node.name))) continue;
    const place = shared.get(node.name);
    const listed = listEntry(c, node);
    if (listed === null) continue;
    // RFC 4314 §4: a folder seen (l) but not readable (r) is listed \Noselect.
    const entry = place !== undefined && !has(place.rights, 'r') ? { ...listed, attributes: ['\\Noselect', ...listed.attributes] } : listed;
    out.push(encodeList(entry, options));
    if (c.returns.status !== undefined && node.folder !== undefined && (place === undefined || has(place.rights, 'r'))) {
      const line = await statusLine(s, place === undefined ? node.folder : { ...node.folder, name: place.folder }, node.name, c.returns.status, place);
      if (line.ok) out.push(line.value);
    }
    // RFC 8440 LIST-MYRIGHTS.
    if (c.returns.myRights && node.folder !== undefined) {
      out.push(s.writer().raw('* MYRIGHTS ').mailbox(node.name).raw(` ${withObsoleteRights(place?.rights ?? allRights)}`).crlf().toBuffer());
    }
  }
  await s.write(Buffer.concat(out));
  await s.ok(tag, 'LIST completed');
});

function listEntry(c: ListCommand, node: Node): ListEntry | null {
  const folder = node.folder;
  const subscribed = folder?.subscribed === true;
  const sel = c.selection;
  const childInfo: string[] = [];
  if (sel.subscribed && !subscribed) {
    // RECURSIVEMATCH: a parent is listed for its subscribed children, with CHILDINFO.
    if (!(sel.recursiveMatch && node.subscribedChild)) return null;
    childInfo.push('SUBSCRIBED');
  } else if (sel.subscribed && sel.recursiveMatch && node.subscribedChild) {
    childInfo.push('SUBSCRIBED');
  }
  if (sel.specialUse && (folder === undefined || folder.specialUse === null)) return null;
  if (!sel.subscribed && !sel.specialUse && folder === undefined && !node.hasChildren) return null;
  const attributes: string[] = [];
  if (folder === undefined) attributes.push(c.extended ? '\\NonExistent' : '\\Noselect');
  attributes.push(node.hasChildren ? '\\HasChildren' : '\\HasNoChildren');
  if (subscribed && (sel.subscribed || c.returns.subscribed)) attributes.push('\\Subscribed');
  if (folder?.specialUse != null) attributes.push(folder.specialUse);
  return { attributes, delimiter, name: node.name, ...(childInfo.length > 0 ? { childInfo } : {}) };
}

/** INBOX first, then by name. */
function compareNames(a: string, b: string): number {
  if (a === 'INBOX') return -1;
  if (b === 'INBOX') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** rev1 LSUB: subscribed folders matching the pattern. */
export const lsub = handler<'LSUB'>(authenticated, async (s, tag, c) => {
  const folders = await s.api!.folders(s.account!.mailboxId);
  if (!folders.ok) {
    await s.fail(tag, folders);
    return;
  }
  const matches = listMatcher(c.reference, c.pattern);
  const out: Buffer[] = [];
  for (const folder of folders.value) {
    if (!folder.subscribed || !matches(folder.name)) continue;
    out.push(encodeList({ attributes: [], delimiter, name: folder.name }, { utf8: s.enabled.utf8 }, 'LSUB'));
  }
  await s.write(Buffer.concat(out));
  await s.ok(tag, 'LSUB completed');
});
