// RFC 5256 pieces over the summaries parsed at delivery: the base subject (§2.1), the sort keys
// of SORT (§3), and the THREAD algorithms ORDEREDSUBJECT and REFERENCES (§2.2). Pure functions;
// the commands feed them messages and write the result.

import { decodeWords, isGroup, type AddressEntry, type MessageContent } from '../../engine/api.js';

/** RFC 5256 §2.1 base subject, upper-cased for i;ascii-casemap comparison. */
export function baseSubject(subject: string | null): string {
  let t = decodeWords(subject ?? '').replace(/[\t\r\n ]+/g, ' ').trim();
  for (;;) {
    // (2) trailing "(fwd)".
    for (let m = t.match(/\s*\(fwd\)\s*$/i); m !== null; m = t.match(/\s*\(fwd\)\s*$/i)) t = t.slice(0, m.index).trimEnd();
    // (3)-(5) leading "re:", "fwd:", "fw:" with optional blobs, and leading blobs when text remains.
    for (let changed = true; changed; ) {
      changed = false;
      const leader = t.match(/^(\[[^[\]]*\]\s*)*(re|fwd?)\s*(\[[^[\]]*\])?\s*:\s*/i);
      if (leader !== null && leader[0].length > 0) {
        t = t.slice(leader[0].length);
        changed = true;
        continue;
      }
      const blob = t.match(/^\[[^[\]]*\]\s*/);
      if (blob !== null && t.length > blob[0].length) {
        t = t.slice(blob[0].length);
        changed = true;
      }
    }
    // (6) "[fwd: ... ]" wrapper.
    const wrapped = t.match(/^\[fwd:\s*(.*)\]$/i);
    if (wrapped === null) break;
    t = wrapped[1]!.trim();
  }
  return t.replace(/[a-z]/g, (ch) => ch.toUpperCase());
}

function firstAddress(entries: readonly AddressEntry[]): { mailbox: string; display: string } | null {
  for (const entry of entries) {
    const a = isGroup(entry) ? entry.addresses[0] : entry;
    if (a === undefined) continue;
    return { mailbox: a.mailbox.toUpperCase(), display: (a.nameDecoded ?? a.email).toUpperCase() };
  }
  return null;
}

/** RFC 5256 DATE: the sent date, or the internal date when there is none. */
export function sentMs(m: MessageContent): number {
  return m.summary.envelope.dateMs ?? m.internalDateMs;
}

export type SortKeyName = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';

export function sortValue(m: MessageContent, key: SortKeyName): string | number {
  const e = m.summary.envelope;
  switch (key) {
    case 'ARRIVAL':
      return m.internalDateMs;
    case 'DATE':
      return sentMs(m);
    case 'SIZE':
      return m.sizeBytes;
    case 'SUBJECT':
      return baseSubject(e.subject);
    case 'FROM':
      return firstAddress(e.from)?.mailbox ?? '';
    case 'TO':
      return firstAddress(e.to)?.mailbox ?? '';
    case 'CC':
      return firstAddress(e.cc)?.mailbox ?? '';
    case 'DISPLAYFROM':
      return firstAddress(e.from)?.display ?? '';
    case 'DISPLAYTO':
      return firstAddress(e.to)?.display ?? '';
  }
}

// ───────────────────────────── THREAD ─────────────────────────────

export interface ThreadNode {
  /** The number to print (sequence number or UID); null for a dummy. */
  readonly id: number | null;
  readonly children: ThreadNode[];
}

interface Container {
  message: MessageContent | null;
  id: number | null;
  parent: Container | null;
  children: Container[];
}

const isDescendant = (node: Container, of: Container): boolean => {
  for (let p: Container | null = node; p !== null; p = p.parent) if (p === of) return true;
  return false;
};

function link(parent: Container, child: Container): void {
  if (child.parent === parent) return;
  if (child.parent !== null) child.parent.children = child.parent.children.filter((c) => c !== child);
  child.parent = parent;
  parent.children.push(child);
}

function dateOf(c: Container): number {
  if (c.message !== null) return sentMs(c.message);
  const first = [...c.children].sort((a, b) => dateOf(a) - dateOf(b))[0];
  return first === undefined ? 0 : dateOf(first);
}

function sortTree(list: Container[], numberOf: Map<Container, number>): void {
  list.sort((a, b) => dateOf(a) - dateOf(b) || (numberOf.get(a) ?? 0) - (numberOf.get(b) ?? 0));
  for (const c of list) sortTree(c.children, numberOf);
}

function toNode(c: Container): ThreadNode {
  return { id: c.id, children: c.children.map(toNode) };
}

/** RFC 5256 REFERENCES. `messages` in sequence order, `numberOf` gives the printed number. */
export function threadReferences(messages: readonly MessageContent[], numberOf: (m: MessageContent) => number): ThreadNode[] {
  const table = new Map<string, Container>();
  const order = new Map<Container, number>();
  const get = (id: string): Container => {
    let c = table.get(id);
    if (c === undefined) {
      c = { message: null, id: null, parent: null, children: [] };
      table.set(id, c);
    }
    return c;
  };
  messages.forEach((m, i) => {
    let messageId = m.summary.thread.messageId;
    if (messageId === null || (table.get(messageId)?.message ?? null) !== null) messageId = `\0unique-${i}`;
    const container = get(messageId);
    container.message = m;
    container.id = numberOf(m);
    order.set(container, i);
    const refs = m.summary.thread.references.length > 0 ? m.summary.thread.references : m.summary.thread.inReplyTo.slice(0, 1);
    let previous: Container | null = null;
    for (const ref of refs) {
      const r = get(ref);
      if (previous !== null && r.parent === null && !isDescendant(previous, r) && r !== previous) link(previous, r);
      previous = r;
    }
    if (container.parent !== null) container.parent.children = container.parent.children.filter((c) => c !== container);
    container.parent = null;
    if (previous !== null && previous !== container && !isDescendant(previous, container)) link(previous, container);
  });
  let roots = [...table.values()].filter((c) => c.parent === null);
  // Prune dummies (§2.2 step 4).
  const prune = (list: Container[], atRoot: boolean): Container[] => {
    const out: Container[] = [];
    for (const c of list) {
      c.children = prune(c.children, false);
      if (c.message !== null) out.push(c);
      else if (c.children.length === 0) continue;
      else if (!atRoot || c.children.length === 1) {
        for (const child of c.children) {
          child.parent = c.parent;
          out.push(child);
        }
      } else out.push(c);
    }
    return out;
  };
  roots = prune(roots, true);
  for (const r of roots) r.parent = null;
  sortTree(roots, order);
  // Group the root set by base subject (§2.2 step 5).
  const subjectOf = (c: Container): string => baseSubject((c.message ?? c.children[0]?.message ?? null)?.summary.envelope.subject ?? null);
  const isReply = (c: Container): boolean => {
    const raw = decodeWords((c.message ?? c.children[0]?.message ?? null)?.summary.envelope.subject ?? '');
    return /^\s*((\[[^[\]]*\]\s*)*(re|fwd?)\s*(\[[^[\]]*\])?\s*:|.*\(fwd\)\s*$)/i.test(raw);
  };
  const bySubject = new Map<string, Container>();
  for (const c of roots) {
    const subject = subjectOf(c);
    if (subject === '') continue;
    const held = bySubject.get(subject);
    if (held === undefined || (held.message !== null && c.message === null) || (held.message !== null && isReply(held) && !isReply(c))) bySubject.set(subject, c);
  }
  const merged: Container[] = [];
  for (const c of roots) {
    const subject = subjectOf(c);
    const target = subject === '' ? undefined : bySubject.get(subject);
    if (target === undefined || target === c) {
      merged.push(c);
      continue;
    }
    if (target.message === null && c.message === null) {
      for (const child of c.children) link(target, child);
    } else if (target.message === null) {
      link(target, c);
    } else if (c.message !== null && isReply(c) && !isReply(target)) {
      link(target, c);
    } else {
      // Neither is a dummy and both or neither are replies: a new dummy holds both.
      const dummy: Container = { message: null, id: null, parent: null, children: [] };
      const at = merged.indexOf(target);
      link(dummy, target);
      link(dummy, c);
      target.parent = dummy;
      if (at >= 0) merged[at] = dummy;
      bySubject.set(subject, dummy);
    }
  }
  const final = merged.filter((c) => c.parent === null);
  sortTree(final, order);
  return final.map(toNode);
}

/** RFC 5256 ORDEREDSUBJECT: by base subject, threads ordered by their first message's date. */
export function threadOrderedSubject(messages: readonly MessageContent[], numberOf: (m: MessageContent) => number): ThreadNode[] {
  const groups = new Map<string, MessageContent[]>();
  for (const m of messages) {
    const subject = baseSubject(m.summary.envelope.subject);
    const list = groups.get(subject) ?? [];
    list.push(m);
    groups.set(subject, list);
  }
  const threads = [...groups.values()].map((list) => list.sort((a, b) => sentMs(a) - sentMs(b) || numberOf(a) - numberOf(b)));
  threads.sort((a, b) => sentMs(a[0]!) - sentMs(b[0]!) || numberOf(a[0]!) - numberOf(b[0]!));
  return threads.map(([first, ...rest]) => ({ id: numberOf(first!), children: rest.map((m) => ({ id: numberOf(m), children: [] })) }));
}

/** thread-list as RFC 5256 §4 writes it: `(1 2 (3)(4 5))`. */
export function threadText(roots: readonly ThreadNode[]): string {
  const body = (n: ThreadNode): string => {
    const head = n.id === null ? '' : String(n.id);
    if (n.children.length === 0) return head;
    if (n.children.length === 1) return head === '' ? body(n.children[0]!) : `${head} ${body(n.children[0]!)}`;
    const branches = n.children.map((c) => `(${body(c)})`).join('');
    return head === '' ? branches : `${head} ${branches}`;
  };
  return roots.map((r) => `(${body(r)})`).join('');
}
