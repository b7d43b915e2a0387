// Typed IMAP commands (what the parser produces) and the message-structure types the storage
// side produces once at delivery and the encoder serialises (Envelope, BodyStructure).
// Numbers that RFC 9051 bounds to 32 bits are `number`; mod-sequences (63-bit, RFC 7162) are `bigint`.

// ───────────────────────────── shared pieces ─────────────────────────────

/** `*` is the largest number in use (message count or UID next - 1), resolved by the session. */
export type SeqBound = number | '*';
export interface SeqRange {
  readonly start: SeqBound;
  readonly end: SeqBound;
}
/** A sequence set as written (ranges may run either way), or `$`: the saved search result (RFC 5182). */
export type SequenceSet = { readonly kind: 'saved' } | { readonly kind: 'ranges'; readonly ranges: readonly SeqRange[] };

/** A calendar date from `date` (`1-Feb-1994`), no time zone. */
export interface ImapDate {
  readonly year: number;
  readonly month: number; // 1..12
  readonly day: number; // 1..31
}

/** `date-time` (`"01-Feb-1994 21:39:05 +0000"`) as a UTC instant plus the zone it was written in. */
export interface ImapDateTime {
  readonly epochMs: number;
  readonly zoneMinutes: number;
}

// ───────────────────────────── SEARCH ─────────────────────────────

export type SearchKey =
  | { readonly kind: 'all' }
  | { readonly kind: 'and'; readonly keys: readonly SearchKey[] }
  | { readonly kind: 'or'; readonly left: SearchKey; readonly right: SearchKey }
  | { readonly kind: 'not'; readonly key: SearchKey }
  /** ANSWERED/DELETED/DRAFT/FLAGGED/SEEN (and their UN- forms), KEYWORD/UNKEYWORD. */
  | { readonly kind: 'flag'; readonly flag: string; readonly set: boolean }
  | { readonly kind: 'new' }
  | { readonly kind: 'old' }
  | { readonly kind: 'recent' }
  | { readonly kind: 'date'; readonly field: 'internal' | 'sent'; readonly op: 'before' | 'on' | 'since'; readonly date: ImapDate }
  /** OLDER/YOUNGER (RFC 5032 WITHIN), seconds relative to now. */
  | { readonly kind: 'age'; readonly op: 'older' | 'younger'; readonly seconds: number }
  /** FROM/TO/CC/BCC/SUBJECT are header searches with the field name filled in. */
  | { readonly kind: 'header'; readonly field: string; readonly value: string }
  | { readonly kind: 'text'; readonly where: 'body' | 'text'; readonly value: string }
  | { readonly kind: 'size'; readonly op: 'larger' | 'smaller'; readonly bytes: number }
  | { readonly kind: 'sequence'; readonly set: SequenceSet }
  | { readonly kind: 'uid'; readonly set: SequenceSet }
  | {
      readonly kind: 'modseq';
      readonly modseq: bigint;
      readonly entry: { readonly name: string; readonly type: 'priv' | 'shared' | 'all' } | undefined;
    }
  /** RFC 8474 OBJECTID. */
  | { readonly kind: 'emailid'; readonly id: string }
  | { readonly kind: 'threadid'; readonly id: string };

/** RFC 4731 ESEARCH result options, RFC 5182 SAVE. */
export type SearchReturnOption = 'MIN' | 'MAX' | 'ALL' | 'COUNT' | 'SAVE';

// ───────────────────────────── FETCH ─────────────────────────────

export type SectionText = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export interface Section {
  /** Part numbers (`1.2.3` → [1,2,3]); empty for the whole message. */
  readonly part: readonly number[];
  readonly text: SectionText | undefined;
  /** Header field names for HEADER.FIELDS(.NOT), as the client wrote them. */
  readonly fields: readonly string[];
}

export interface Partial {
  readonly offset: number;
  readonly count: number;
}

export type FetchAttribute =
  | {
      readonly kind:
        | 'FLAGS'
        | 'INTERNALDATE'
        | 'RFC822.SIZE'
        | 'ENVELOPE'
        | 'BODY'
        | 'BODYSTRUCTURE'
        | 'UID'
        | 'MODSEQ'
        | 'EMAILID'
        | 'THREADID'
        | 'RFC822'
        | 'RFC822.HEADER'
        | 'RFC822.TEXT'
        | 'SAVEDATE';
    }
  | { readonly kind: 'BODY[]'; readonly peek: boolean; readonly section: Section; readonly partial: Partial | undefined }
  | { readonly kind: 'BINARY[]'; readonly peek: boolean; readonly part: readonly number[]; readonly partial: Partial | undefined }
  | { readonly kind: 'BINARY.SIZE'; readonly part: readonly number[] };

// ───────────────────────────── LIST / STATUS ─────────────────────────────

export type StatusItem =
  | 'MESSAGES'
  | 'RECENT'
  | 'UIDNEXT'
  | 'UIDVALIDITY'
  | 'UNSEEN'
  | 'DELETED'
  | 'SIZE'
  | 'HIGHESTMODSEQ'
  | 'APPENDLIMIT'
  | 'MAILBOXID';

export interface ListSelection {
  readonly subscribed: boolean;
  readonly remote: boolean;
  readonly recursiveMatch: boolean;
  readonly specialUse: boolean;
}

export interface ListReturn {
  readonly subscribed: boolean;
  readonly children: boolean;
  readonly specialUse: boolean;
  readonly myRights: boolean;
  /** RFC 5819 LIST-STATUS; undefined when not asked. */
  readonly status: readonly StatusItem[] | undefined;
}

// ───────────────────────────── commands ─────────────────────────────

export interface AppendMessage {
  readonly flags: readonly string[];
  readonly internalDate: ImapDateTime | undefined;
  readonly data: Uint8Array;
  /** Sent as literal8 (`~{N}`): may hold NUL and needs no content-transfer-encoding. */
  readonly binary: boolean;
  /** RFC 6855 `UTF8 (literal8)`. */
  readonly utf8: boolean;
}

export interface QresyncParams {
  readonly uidValidity: number;
  readonly modseq: bigint;
  readonly knownUids: SequenceSet | undefined;
  readonly sequenceMatch: { readonly sequences: SequenceSet; readonly uids: SequenceSet } | undefined;
}

export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';
export interface SortCriterion {
  readonly key: SortKey;
  readonly reverse: boolean;
}

export type StoreOperation = 'replace' | 'add' | 'remove';

export type Command =
  | { readonly kind: 'CAPABILITY' | 'NOOP' | 'LOGOUT' | 'STARTTLS' | 'CHECK' | 'CLOSE' | 'UNSELECT' | 'EXPUNGE' | 'IDLE' | 'NAMESPACE' }
  /** initialResponse: undefined = none sent; empty = `=` (RFC 4959). Base64 already decoded. */
  | { readonly kind: 'AUTHENTICATE'; readonly mechanism: string; readonly initialResponse: Uint8Array | undefined }
  | { readonly kind: 'LOGIN'; readonly userid: string; readonly password: string }
  | { readonly kind: 'ENABLE'; readonly capabilities: readonly string[] }
  | {
      readonly kind: 'SELECT' | 'EXAMINE';
      readonly mailbox: string;
      readonly condstore: boolean;
      readonly qresync: QresyncParams | undefined;
    }
  | { readonly kind: 'CREATE'; readonly mailbox: string; readonly specialUse: readonly string[] }
  | { readonly kind: 'DELETE' | 'SUBSCRIBE' | 'UNSUBSCRIBE'; readonly mailbox: string }
  | { readonly kind: 'RENAME'; readonly from: string; readonly to: string }
  | {
      readonly kind: 'LIST';
      readonly reference: string;
      readonly patterns: readonly string[];
      readonly selection: ListSelection;
      readonly returns: ListReturn;
      /** True when any LIST-EXTENDED syntax was used: answer in the extended form. */
      readonly extended: boolean;
    }
  | { readonly kind: 'LSUB'; readonly reference: string; readonly pattern: string }
  | { readonly kind: 'STATUS'; readonly mailbox: string; readonly items: readonly StatusItem[] }
  | { readonly kind: 'APPEND'; readonly mailbox: string; readonly messages: readonly AppendMessage[] }
  | { readonly kind: 'UID EXPUNGE'; readonly uids: SequenceSet }
  | {
      readonly kind: 'SEARCH';
      readonly uid: boolean;
      readonly charset: string | undefined;
      /** undefined: plain SEARCH (untagged SEARCH reply); a list: ESEARCH (empty list means ALL). */
      readonly returnOptions: readonly SearchReturnOption[] | undefined;
      readonly key: SearchKey;
    }
  | {
      readonly kind: 'FETCH';
      readonly uid: boolean;
      readonly sequenceSet: SequenceSet;
      readonly attributes: readonly FetchAttribute[];
      readonly macro: 'ALL' | 'FAST' | 'FULL' | undefined;
      readonly changedSince: bigint | undefined;
      readonly vanished: boolean;
    }
  | {
      readonly kind: 'STORE';
      readonly uid: boolean;
      readonly sequenceSet: SequenceSet;
      readonly unchangedSince: bigint | undefined;
      readonly operation: StoreOperation;
      readonly silent: boolean;
      readonly flags: readonly string[];
    }
  | { readonly kind: 'COPY' | 'MOVE'; readonly uid: boolean; readonly sequenceSet: SequenceSet; readonly mailbox: string }
  | {
      readonly kind: 'SORT';
      readonly uid: boolean;
      readonly criteria: readonly SortCriterion[];
      readonly charset: string;
      readonly returnOptions: readonly SearchReturnOption[] | undefined;
      readonly key: SearchKey;
    }
  | {
      readonly kind: 'THREAD';
      readonly uid: boolean;
      readonly algorithm: string;
      readonly charset: string;
      readonly key: SearchKey;
    }
  | { readonly kind: 'GETQUOTA'; readonly root: string }
  | { readonly kind: 'GETQUOTAROOT'; readonly mailbox: string }
  | { readonly kind: 'SETQUOTA'; readonly root: string; readonly limits: readonly { readonly resource: string; readonly limit: number }[] }
  /** RFC 2971; null when the client sent NIL. */
  | { readonly kind: 'ID'; readonly params: readonly (readonly [string, string | null])[] | null }
  | { readonly kind: 'COMPRESS'; readonly mechanism: string }
  | { readonly kind: 'GETACL' | 'MYRIGHTS'; readonly mailbox: string }
  | { readonly kind: 'SETACL'; readonly mailbox: string; readonly identifier: string; readonly rights: string }
  | { readonly kind: 'DELETEACL' | 'LISTRIGHTS'; readonly mailbox: string; readonly identifier: string };

export type CommandKind = Command['kind'];

// ───────────────────────────── message structure (for FETCH replies) ─────────────────────────────

/** One address of an ENVELOPE. A group start has host null and mailbox = group name; a group end has mailbox and host null. */
export interface EnvelopeAddress {
  readonly name: string | null;
  readonly adl: string | null;
  readonly mailbox: string | null;
  readonly host: string | null;
}

/** RFC 9051 §7.5.2 ENVELOPE; header values as they appear in the message (not decoded). */
export interface Envelope {
  readonly date: string | null;
  readonly subject: string | null;
  readonly from: readonly EnvelopeAddress[] | null;
  readonly sender: readonly EnvelopeAddress[] | null;
  readonly replyTo: readonly EnvelopeAddress[] | null;
  readonly to: readonly EnvelopeAddress[] | null;
  readonly cc: readonly EnvelopeAddress[] | null;
  readonly bcc: readonly EnvelopeAddress[] | null;
  readonly inReplyTo: string | null;
  readonly messageId: string | null;
}

/** Attribute/value pairs in order; null when the part has none. */
export type BodyParams = readonly (readonly [string, string])[] | null;

export interface BodyDisposition {
  readonly type: string;
  readonly params: BodyParams;
}

/** The extension data shared by every part (BODYSTRUCTURE only, not BODY). */
export interface BodyExtension {
  readonly disposition: BodyDisposition | null;
  readonly language: readonly string[] | null;
  readonly location: string | null;
}

export interface SinglePart extends BodyExtension {
  readonly kind: 'single';
  /** Media type and subtype, e.g. `TEXT`/`PLAIN`; case preserved. */
  readonly type: string;
  readonly subtype: string;
  readonly params: BodyParams;
  readonly id: string | null;
  readonly description: string | null;
  readonly encoding: string;
  /** Size of the body in its transfer encoding. */
  readonly sizeBytes: number;
  /** Present exactly for TEXT/* and MESSAGE/RFC822 (and MESSAGE/GLOBAL) parts. */
  readonly lines: number | undefined;
  /** Present exactly for MESSAGE/RFC822 (and MESSAGE/GLOBAL) parts. */
  readonly message: { readonly envelope: Envelope; readonly body: BodyStructure } | undefined;
  readonly md5: string | null;
}

export interface MultiPart extends BodyExtension {
  readonly kind: 'multipart';
  readonly parts: readonly BodyStructure[];
  readonly subtype: string;
  readonly params: BodyParams;
}

export type BodyStructure = SinglePart | MultiPart;
