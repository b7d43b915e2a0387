// What never changes about a message, kept in the server process across sessions: its MIME
// summary (ENVELOPE, BODYSTRUCTURE) with the ENVELOPE as encoded, and the bytes of a small
// message (BODY[], RFC822). An email id names one content for good (copies keep the id and the
// bytes; a new message gets a new random id), so an entry is never stale, only dropped: least
// recently used first, past a bound in bytes. A second session, a re-SELECT or another client
// of the same user reads it without the round trip to the database worker. Keyed by mailbox and
// email id, so a session reaches only entries of messages its own view holds.

import type { MessageContent } from '../../engine/api.js';
import { envelopeOf } from './convert.js';
import { ResponseWriter, writeEnvelope, type EncodeOptions } from './wire/encoder.js';

/** A content as cached: MessageContent without the UID (the same content has another UID in each folder it was copied to). */
type Content = Omit<MessageContent, 'uid'>;

interface Entry {
  content: Content | null;
  /** The ENVELOPE as sent, per UTF8=ACCEPT setting. */
  envelope: Buffer | null;
  envelopeUtf8: Buffer | null;
  bytes: Uint8Array | null;
  cost: number;
}

/** What an entry costs beyond the sizes counted (keys, objects). */
const entryOverheadBytes = 256;

export class ContentCache {
  private readonly entries = new Map<string, Entry>();
  private totalBytes = 0;

  constructor(
    /** The bound on everything kept (estimated: bytes, summaries' JSON length, envelopes). */
    readonly bytesMax: number,
    /** Messages bigger than this are never kept as bytes. */
    readonly messageBytesMax: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** A message's summary as the view wants it (with this view's UID), or undefined. */
  content(mailboxId: string, emailId: string, uid: number): MessageContent | undefined {
    const content = this.touch(mailboxId, emailId)?.content;
    return content == null ? undefined : { ...content, uid };
  }

  rememberContent(mailboxId: string, content: MessageContent): void {
    const { uid: _uid, ...rest } = content;
    this.update(mailboxId, content.emailId, (e) => {
      if (e.content !== null) return 0;
      e.content = rest;
      return JSON.stringify(rest.summary).length;
    });
  }

  /** The ENVELOPE of a content as the encoder writes it, encoded once per setting. */
  envelope(mailboxId: string, content: MessageContent, options: EncodeOptions): Buffer {
    const entry = this.entries.get(key(mailboxId, content.emailId));
    const kept = entry === undefined ? null : options.utf8 ? entry.envelopeUtf8 : entry.envelope;
    if (kept !== null) return kept;
    const w = new ResponseWriter(options);
    writeEnvelope(w, envelopeOf(content.summary.envelope));
    const bytes = w.toBuffer();
    this.update(mailboxId, content.emailId, (e) => {
      if (options.utf8) e.envelopeUtf8 = bytes;
      else e.envelope = bytes;
      return bytes.length;
    });
    return bytes;
  }

  /** A small message's bytes (prefix and content, as readMessage gives them), or undefined. */
  message(mailboxId: string, emailId: string): Uint8Array | undefined {
    return this.touch(mailboxId, emailId)?.bytes ?? undefined;
  }

  rememberMessage(mailboxId: string, emailId: string, bytes: Uint8Array): void {
    if (bytes.length > this.messageBytesMax) return;
    this.update(mailboxId, emailId, (e) => {
      if (e.bytes !== null) return 0;
      e.bytes = bytes;
      return bytes.length;
    });
  }

  private touch(mailboxId: string, emailId: string): Entry | undefined {
    const k = key(mailboxId, emailId);
    const entry = this.entries.get(k);
    if (entry !== undefined) {
      this.entries.delete(k);
      this.entries.set(k, entry);
    }
    return entry;
  }

  /** Adds to an entry (made if missing, marked as just used); `add` returns the bytes it added. */
  private update(mailboxId: string, emailId: string, add: (entry: Entry) => number): void {
    const k = key(mailboxId, emailId);
    let entry = this.entries.get(k);
    if (entry === undefined) {
      entry = { content: null, envelope: null, envelopeUtf8: null, bytes: null, cost: entryOverheadBytes };
      this.totalBytes += entryOverheadBytes;
    } else {
      this.entries.delete(k);
    }
    const added = add(entry);
    entry.cost += added;
    this.totalBytes += added;
    this.entries.set(k, entry);
    this.evict();
  }

  private evict(): void {
    while (this.totalBytes > this.bytesMax && this.entries.size > 0) {
      const [k, oldest] = this.entries.entries().next().value!;
      this.entries.delete(k);
      this.totalBytes -= oldest.cost;
    }
  }
}

function key(mailboxId: string, emailId: string): string {
  return `${mailboxId}\0${emailId}`;
}
