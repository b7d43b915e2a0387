// The maildrop of one POP3 session: the INBOX as it was at login (RFC 1939 sec. 8: message
// numbers and sizes do not change during a session), the messages marked deleted, and the
// per-mailbox lock that keeps a second POP3 session out (RFC 1939 sec. 4, answered [IN-USE]).

import type { MessageInfo } from '../../engine/api.js';

export interface MaildropMessage {
  /** 1-based message number of this session. */
  readonly number: number;
  readonly uid: number;
  readonly sizeBytes: number;
  /** UIDL: stable across sessions while the INBOX keeps its UIDVALIDITY (as Dovecot's %08Xu%08Xv). */
  readonly uniqueId: string;
}

export class Maildrop {
  private readonly messages: readonly MaildropMessage[];
  private readonly deleted = new Set<number>();

  constructor(readonly uidValidity: number, listing: readonly MessageInfo[]) {
    const sorted = [...listing].sort((a, b) => a.uid - b.uid);
    this.messages = sorted.map((m, i) => ({ number: i + 1, uid: m.uid, sizeBytes: m.sizeBytes, uniqueId: uniqueIdOf(uidValidity, m.uid) }));
  }

  /** A message that exists and is not marked deleted. */
  get(number: number): MaildropMessage | undefined {
    const message = this.messages[number - 1];
    return message === undefined || this.deleted.has(number) ? undefined : message;
  }

  isDeleted(number: number): boolean {
    return this.deleted.has(number);
  }

  /** Messages not marked deleted, in order. */
  live(): MaildropMessage[] {
    return this.messages.filter((m) => !this.deleted.has(m.number));
  }

  stat(): { count: number; sizeBytes: number } {
    let sizeBytes = 0;
    const live = this.live();
    for (const m of live) sizeBytes += m.sizeBytes;
    return { count: live.length, sizeBytes };
  }

  /** false when there is no such message or it is already marked. */
  markDeleted(number: number): boolean {
    if (this.get(number) === undefined) return false;
    this.deleted.add(number);
    return true;
  }

  reset(): void {
    this.deleted.clear();
  }

  deletedUids(): number[] {
    return [...this.deleted].sort((a, b) => a - b).map((n) => this.messages[n - 1]!.uid);
  }
}

export function uniqueIdOf(uidValidity: number, uid: number): string {
  return uid.toString(16).padStart(8, '0') + uidValidity.toString(16).padStart(8, '0');
}

/** One holder per mailbox; shared by every POP3 listener of a server. */
export class MaildropLocks {
  private readonly held = new Set<string>();

  /** A release function, or null when another session holds the mailbox. */
  acquire(mailboxId: string): (() => void) | null {
    if (this.held.has(mailboxId)) return null;
    this.held.add(mailboxId);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held.delete(mailboxId);
    };
  }

  get size(): number {
    return this.held.size;
  }
}
