// The message content model: what MIME parsing at delivery gives the front ends. One
// MessageSummary per content hash, computed once when the content is first stored (it travels
// in the ContentStored event, so replay never re-parses) and shared by every copy and move.
//
// Every offset is a byte offset into the message exactly as stored (what readMessage returns),
// so any IMAP BODY[section] is a slice of those bytes. Strings named `raw...` or documented as
// "as written" keep RFC 2047 encoded words (IMAP ENVELOPE sends them so); `...Decoded` fields
// have them decoded (JMAP). Re-exported from engine/api.ts: front ends import them from there.

/** Bumped when the parser's output changes; a summary of another version is recomputed on read. */
export const summaryVersion = 1;

/** One mailbox of an address header (RFC 5322 `mailbox`). */
export interface MailAddress {
  /** Display name as written, quotes removed, encoded words kept (IMAP ENVELOPE addr-name); null if none. */
  readonly name: string | null;
  /** Display name with RFC 2047 encoded words decoded (JMAP EmailAddress.name); null if none. */
  readonly nameDecoded: string | null;
  /** Local part (IMAP addr-mailbox); "MISSING_MAILBOX" when the address has none (as Dovecot). */
  readonly mailbox: string;
  /** Domain (IMAP addr-host); "MISSING_DOMAIN" when the address has none (as Dovecot). */
  readonly host: string;
  /** `mailbox@host`, or the raw text when the address was not parseable (JMAP EmailAddress.email). */
  readonly email: string;
}

/** An RFC 5322 group (`Team: a@x, b@y;`). IMAP sends it as (NIL NIL "Team" NIL) ... (NIL NIL NIL NIL). */
export interface AddressGroup {
  /** Group name as written (encoded words kept). */
  readonly group: string;
  readonly groupDecoded: string;
  readonly addresses: readonly MailAddress[];
}

export type AddressEntry = MailAddress | AddressGroup;

export const isGroup = (entry: AddressEntry): entry is AddressGroup => 'group' in entry;

/** The IMAP ENVELOPE fields, plus decoded variants for JMAP. Absent headers are null / []. */
export interface Envelope {
  /** Date header as written (IMAP env-date). */
  readonly date: string | null;
  /** The Date header parsed, in ms since the epoch (JMAP sentAt, SEARCH SENTBEFORE...); null if absent or unparseable. */
  readonly dateMs: number | null;
  /** The Date header's own UTC offset in minutes (JMAP sentAt keeps the sender's zone); null if unknown. */
  readonly dateOffsetMinutes: number | null;
  /** Subject as written (IMAP env-subject). */
  readonly subject: string | null;
  /** Subject with encoded words decoded and folding removed (JMAP subject). */
  readonly subjectDecoded: string | null;
  readonly from: readonly AddressEntry[];
  /** IMAP: a server sends `from` when this is empty (RFC 9051 7.5.2); JMAP sends null. */
  readonly sender: readonly AddressEntry[];
  /** IMAP: a server sends `from` when this is empty (RFC 9051 7.5.2); JMAP sends null. */
  readonly replyTo: readonly AddressEntry[];
  readonly to: readonly AddressEntry[];
  readonly cc: readonly AddressEntry[];
  readonly bcc: readonly AddressEntry[];
  /** In-Reply-To as written (IMAP env-in-reply-to). */
  readonly inReplyTo: string | null;
  /** Message-ID as written (IMAP env-message-id). */
  readonly messageId: string | null;
}

/** Message ids for threading (JMAP threadId, IMAP THREAD=REFERENCES), without angle brackets. */
export interface ThreadIds {
  readonly messageId: string | null;
  readonly inReplyTo: readonly string[];
  readonly references: readonly string[];
}

/** A parameter list as written in Content-Type / Content-Disposition (IMAP body-fld-param). */
export type MimeParams = ReadonlyArray<readonly [name: string, value: string]>;

export interface Disposition {
  /** Lower-cased (`inline`, `attachment`, ...). */
  readonly type: string;
  readonly params: MimeParams;
}

/** One header field of an entity: byte offsets into the stored message. */
export interface HeaderField {
  /** Field name, lower-cased. */
  readonly name: string;
  /** Offset of the field's first byte (its name). */
  readonly start: number;
  /** Offset just past the field's line ending (so a slice is the whole field, folded lines included). */
  readonly end: number;
  /** Offset of the value's first byte (just after the colon). */
  readonly valueStart: number;
}

/**
 * One MIME entity (the message itself, a part, or the message inside a message/rfc822 part),
 * carrying every IMAP BODYSTRUCTURE field and the JMAP EmailBodyPart properties.
 *
 *   headerStart          bodyStart                          bodyEnd
 *   | header fields ... CRLF CRLF | body (as encoded)         |
 *
 * BODY[<partId>.MIME] (or the message's HEADER) = [headerStart, bodyStart); BODY[<partId>] =
 * [bodyStart, bodyEnd). The blank line ending the header belongs to the header.
 */
export interface BodyPart {
  /**
   * IMAP section number ("1", "1.2", "2.1.3"). A multipart that is the body of a message has
   * the number of that message: "" for the top-level message, else the message/rfc822 part's
   * number. JMAP partId = this, or null for multiparts.
   */
  readonly partId: string;
  /** Lower-cased media type and subtype (`text`, `plain`); defaults per RFC 2045 (text/plain, or message/rfc822 in a digest). */
  readonly type: string;
  readonly subtype: string;
  /** Content-Type parameters as written (names lower-cased, values unquoted; RFC 2231 pieces kept as written). */
  readonly params: MimeParams;
  /** charset, decoded, lower-cased; for text/* without one: "us-ascii"; otherwise null (JMAP charset). */
  readonly charset: string | null;
  /** File name from Content-Disposition filename or Content-Type name, RFC 2231/2047 decoded (JMAP name); null if none. */
  readonly name: string | null;
  /** Content-ID as written (IMAP body-fld-id). */
  readonly id: string | null;
  /** Content-ID without angle brackets (JMAP cid). */
  readonly cid: string | null;
  /** Content-Description as written. */
  readonly description: string | null;
  /** Content-Transfer-Encoding, lower-cased; "7bit" when absent. */
  readonly encoding: string;
  /** Content-MD5 as written. */
  readonly md5: string | null;
  readonly disposition: Disposition | null;
  /** Content-Language tags; null when absent. */
  readonly language: readonly string[] | null;
  readonly location: string | null;
  readonly headerStart: number;
  readonly bodyStart: number;
  readonly bodyEnd: number;
  /** Body size in octets as encoded (IMAP body-fld-octets) = bodyEnd - bodyStart. */
  readonly sizeBytes: number;
  /** Body size after transfer decoding (JMAP EmailBodyPart.size). */
  readonly decodedSizeBytes: number;
  /** Body lines (IMAP body-fld-lines), for text/* and message/rfc822|global; else null. */
  readonly lines: number | null;
  /** Multipart: the parts, in order (never empty). Otherwise empty. */
  readonly children: readonly BodyPart[];
  /** message/rfc822 and message/global: the encapsulated message's envelope and root entity. */
  readonly message: { readonly envelope: Envelope; readonly body: BodyPart } | null;
}

/** What delivery-time parsing knows of one message (one per content hash). */
export interface MessageSummary {
  readonly version: number;
  readonly sizeBytes: number;
  readonly envelope: Envelope;
  readonly thread: ThreadIds;
  /** The top-level header fields, in order (at most headerFieldsMax). */
  readonly headers: readonly HeaderField[];
  /** The message as a MIME entity: BODYSTRUCTURE is this tree; headerStart is 0. */
  readonly body: BodyPart;
  /** JMAP textBody / htmlBody / attachments (RFC 8621 4.1.4), as partIds into `body`. */
  readonly textBody: readonly string[];
  readonly htmlBody: readonly string[];
  readonly attachments: readonly string[];
  /** JMAP hasAttachment. */
  readonly hasAttachment: boolean;
  /** First 256 characters of the text (JMAP preview), whitespace collapsed. */
  readonly preview: string;
  /** Limits reached or damage found while parsing (empty for a well-formed message); never fatal. */
  readonly problems: readonly string[];
}

/**
 * An IMAP section (RFC 9051 6.4.5): `path` is the part number as integers ([] for the whole
 * message), `specifier` the text after it. BODY[1.2.MIME] = {path: [1, 2], specifier: 'MIME'};
 * BODY[HEADER.FIELDS (From To)] = {path: [], specifier: 'HEADER.FIELDS', fields: ['From', 'To']}.
 */
export interface Section {
  readonly path: readonly number[];
  readonly specifier?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  readonly fields?: readonly string[];
}

/** A part's content decoded to text (JMAP EmailBodyValue). */
export interface BodyValue {
  readonly value: string;
  /** A transfer or charset decoding problem replaced something (JMAP isEncodingProblem). */
  readonly isEncodingProblem: boolean;
  readonly isTruncated: boolean;
}

/** summaries(): one message's metadata with its content summary. */
export interface MessageContent {
  readonly uid: number;
  readonly emailId: string;
  readonly threadId: string;
  readonly sizeBytes: number;
  readonly internalDateMs: number;
  readonly summary: MessageSummary;
}
