// Content search criteria: the text keys of IMAP SEARCH (RFC 9051 6.4.4) and JMAP Email/query
// (RFC 8621 4.4.1) filters. Front ends evaluate flag, date, size, UID and modseq keys
// themselves from listMessages and combine them with these results (see README). Re-exported
// from engine/api.ts.

export type ContentCriterion =
  /** HEADER name value: a field of that name whose value contains `value` ("" = the field exists). */
  | { readonly key: 'header'; readonly name: string; readonly value: string }
  /** SUBJECT, FROM, TO, CC, BCC: that header field contains `value` (the field must exist). */
  | { readonly key: 'subject' | 'from' | 'to' | 'cc' | 'bcc'; readonly value: string }
  /** BODY: the decoded text parts (and encapsulated messages) contain `value`. */
  | { readonly key: 'body'; readonly value: string }
  /** TEXT: the header fields or the body contain `value`. */
  | { readonly key: 'text'; readonly value: string }
  | { readonly key: 'and' | 'or'; readonly of: readonly ContentCriterion[] }
  | { readonly key: 'not'; readonly of: ContentCriterion };

/** The state of a database copy's content index (shown with the copy status). */
export type SearchIndexState = 'Healthy' | 'Crawling' | 'Failed';

export interface SearchIndexStatus {
  readonly state: SearchIndexState;
  /** Contents indexed / contents in the database (a crawl's progress). */
  readonly documents: number;
  readonly documentsTotal: number;
  /** Estimated memory of the index: dictionary strings plus postings. */
  readonly bytes: number;
  /** Documents the index resumed with from its snapshot at open (the rest were crawled). */
  readonly documentsLoaded: number;
  /** Size of the last snapshot written or loaded (0: none yet). */
  readonly persistedBytes: number;
  /** Bytes of the contents indexed (the mail size the index is compared with). */
  readonly contentBytes: number;
  readonly error: string | null;
  /**
   * `live`: new contents are indexed as they become durable, in slices between commits (the
   * active copy). `idle`: a passive copy indexes what it replayed when replay is quiet, or when
   * the oldest content waiting is `passiveIndexLagMsMax` old.
   */
  readonly mode: IndexMode;
  /** Contents stored but not indexed yet (searches verify them by brute force: still exact). */
  readonly backlogDocuments: number;
  /** Of which held in memory (bytes as logged), the rest to be read back from the state store. */
  readonly backlogBytes: number;
  readonly backlogUnread: number;
  /** Age of the oldest content waiting (0: none waiting). */
  readonly lagMs: number;
  /** Since open: time spent indexing the backlog in slices (on the event loop), and snapshots written with their time (encode and write). */
  readonly indexMsTotal: number;
  readonly snapshots: number;
  readonly snapshotMsTotal: number;
}

export type IndexMode = 'live' | 'idle';
