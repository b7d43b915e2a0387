// What a front end (IMAP, POP3, SMTP/LMTP, JMAP) is given by the server: who may log in, where
// mail for an address goes, the mailbox API of each database, how many sessions are allowed,
// the TLS identity, a logger and the metrics hooks. Front ends import this file, engine/api.ts
// and engine/errors.ts, and nothing else of the server or the engine, so each can be tested
// against a small in-memory context (protocols/testing.ts) and run for real against
// server/frontend.ts.

import type { FolderInfo, MailboxApi } from '../engine/api.js';
import type { Result } from '../engine/errors.js';

/** A user as the front ends see it: enough to open the mailbox and answer about it. */
export interface Account {
  /** Primary address, lower-cased; also the login name. */
  readonly address: string;
  readonly mailboxId: string;
  /** The mailbox database that holds the mailbox, e.g. 'DB01'. */
  readonly database: string;
  readonly displayName: string;
  /** null: unlimited. */
  readonly quotaBytes: number | null;
  /** Other addresses of the same user (lower-cased). */
  readonly aliases: readonly string[];
  /**
   * Mail to this recipient goes into this folder, not INBOX (a mail-enabled public folder:
   * `mailboxId` is then its public-folder mailbox). Absent for users.
   */
  readonly folder?: string;
}

/** One public folder: where it lives (a public-folder mailbox in a database) and its folder (with ACL and address). */
export interface PublicFolder {
  /** The folder's path in the hierarchy, `/`-separated, e.g. `Sales/EMEA`. */
  readonly path: string;
  readonly database: string;
  readonly mailboxId: string;
  readonly folder: FolderInfo;
}

/** The organisation's public folders, across every database (server/publicfolders.ts). */
export interface PublicFolderSource {
  /** Every public folder, by path; DATABASE_UNAVAILABLE when a database holding some cannot answer. */
  list(): Promise<Result<PublicFolder[]>>;
  /** Other users' folders whose ACL names `address` or `anyone` (IMAP "Other Users/"), across every database. */
  sharedWith?(address: string): Promise<Result<Array<{ readonly owner: string; readonly database: string; readonly mailboxId: string; readonly folder: FolderInfo }>>>;
}

export type Protocol = 'imap' | 'pop3' | 'smtp' | 'submission' | 'lmtp' | 'jmap';

/** Who is asking: used for the per-address limits and the failed-login slow-down. */
export interface Peer {
  readonly protocol: Protocol;
  /** The remote IP address (no port). */
  readonly address: string;
}

/** Held while a session is open; release it exactly once when the session ends. */
export interface SessionLease {
  release(): void;
  /**
   * `listener` is called (at most once, never after release) when the account's mailbox moves
   * to another database while the session is open (server/moves.ts, at its switch). The session
   * must end and tell the client to reconnect: IMAP `* BYE [UNAVAILABLE]`, POP3
   * `-ERR [SYS/TEMP]`, JMAP closes its push stream. A new login reaches the new database.
   */
  onMoved(listener: () => void): void;
}

export interface FrontEndLimits {
  /** Logged-in sessions of one user, over every protocol. */
  readonly sessionsPerUser: number;
  /** Open connections from one remote address, per listening port. */
  readonly connectionsPerAddress: number;
  /** Open connections per listening port. */
  readonly connectionsPerPort: number;
  /** An idle session is closed after this long (IMAP IDLE re-arms it, RFC 9051 says >= 30 min). */
  readonly idleMs: number;
  /** Largest message accepted by APPEND, SMTP DATA/BDAT, LMTP and JMAP upload. */
  readonly messageBytesMax: number;
}

/** The structured log (pino's shape): one JSON line per call; never pass passwords or bodies. */
export interface FrontEndLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  /** A logger that adds `fields` (e.g. the connection id) to every line. */
  child(fields: Record<string, unknown>): FrontEndLog;
}

/** Metrics hooks; the server turns them into Prometheus series. Cheap, synchronous, never throw. */
export interface FrontEndMetrics {
  sessionOpened(protocol: Protocol): void;
  sessionClosed(protocol: Protocol): void;
  /** One command (IMAP tagged command, POP3 command, SMTP transaction, JMAP method call). */
  command(protocol: Protocol, name: string, outcome: 'ok' | 'no' | 'bad', durationMs: number): void;
  authFailure(protocol: Protocol): void;
  /** Per recipient: delivered (durable), deferred (4xx), rejected (5xx), bounced (DSN sent). */
  delivery(outcome: 'delivered' | 'deferred' | 'rejected' | 'bounced', recipients: number): void;
}

export interface FrontEndContext {
  /** The name this server gives itself in greetings and Received headers. */
  readonly hostname: string;
  /** The server (DAG member) name, e.g. 'MBX1'. */
  readonly serverName: string;
  /** PEM certificate chain and key for TLS and STARTTLS. */
  readonly tls: { readonly cert: string; readonly key: string };
  readonly limits: FrontEndLimits;
  readonly log: FrontEndLog;
  readonly metrics: FrontEndMetrics;

  /**
   * Checks a login (the primary address; aliases only receive mail) and password. Failures are slowed down per remote
   * address and per login name; AUTHENTICATION_FAILED for an unknown login and a bad password
   * alike; DIRECTORY_UNAVAILABLE when the directory cannot be asked (answer a temporary error).
   */
  authenticate(login: string, password: string, peer: Peer): Promise<Result<Account>>;
  /** A user by primary address or alias; null when unknown. DIRECTORY_UNAVAILABLE as above. */
  findAccount(address: string): Promise<Result<Account | null>>;
  /**
   * The accounts mail to `address` goes to (a user, an alias's user, a group expanded);
   * NO_SUCH_USER when nobody, DIRECTORY_UNAVAILABLE when the directory is down.
   */
  resolveRecipient(address: string): Promise<Result<Account[]>>;
  isAcceptedDomain(domain: string): Promise<Result<boolean>>;
  /**
   * The mailbox API of a database. Stable for the life of the server: it follows the active
   * copy across switchover and failover, and answers DATABASE_UNAVAILABLE while there is none.
   */
  mailboxes(database: string): MailboxApi;
  /** Counts a logged-in session against the per-user limit; LIMIT when it is reached. */
  openSession(account: Account, peer: Peer): Result<SessionLease>;
  /**
   * Calls `listener` with the mailbox id each time a mailbox moves to another database (at the
   * move's switch): an Account of it a front end keeps beyond a session (a login cache) names
   * the old database and must be looked up again. Returns the unsubscribe function.
   */
  onMailboxMoved(listener: (mailboxId: string) => void): () => void;
  /**
   * The server's mail flow (submission through the outbound queue and local delivery), once
   * it runs; null or absent when this server sends no mail. SMTP submission and JMAP
   * EmailSubmission both submit through it: one pipeline.
   */
  mailSubmission?(): MailSubmission | null;
  /** The public folders (absent: a server without any, as in small test contexts). */
  readonly publicFolders?: PublicFolderSource;
}

/** One message handed to the mail flow by an authenticated user (SMTP submission, JMAP EmailSubmission) or on a user's behalf (an auto-reply). */
export interface Submission {
  readonly account: Account;
  /** The envelope sender: one of the account's addresses; '' (the null reverse-path) only with `autoReply`. */
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  /** The message as submitted; the flow adds its Received header (and a DKIM signature for remote recipients). */
  readonly content: Uint8Array;
  /** Who handed it over, for the Received header: the client's HELO (or the front end's name), its address, RFC 3848 protocol (ESMTPSA, HTTPS). */
  readonly via: { readonly helo: string; readonly clientAddress: string; readonly protocol: string };
  /** A message the server generates for the account (RFC 3834): the null reverse-path is allowed. */
  readonly autoReply?: boolean;
}

/** What became of one recipient at submission: delivered into a local mailbox, queued (for another server, or for a local retry), or refused. */
export interface SubmittedRecipient {
  readonly address: string;
  readonly outcome: 'delivered' | 'queued' | 'refused';
  /** The SMTP reply an SMTP client would have had for it (`250 2.0.0 Ok: ...`, `550 5.1.1 ...`). */
  readonly reply: string;
  /** The outbound queue's id of the message that carries this recipient, when queued. */
  readonly queueId: string | null;
}

export interface SubmissionReceipt {
  /** The transaction id (Received header, queue file, logs). */
  readonly id: string;
  readonly timeMs: number;
  readonly recipients: readonly SubmittedRecipient[];
}

/** A queued message's state; `finished` once the queue is done with it (delivered or bounced). */
export interface QueuedMessageStatus {
  readonly finished: boolean;
  readonly attempts: number;
  /** Recipients still to be tried. */
  readonly remaining: readonly string[];
  /** Recipients refused for good (bounced), with the remote status and diagnostic. */
  readonly failed: ReadonlyArray<{ readonly address: string; readonly status: string; readonly diagnostic: string }>;
  /** An attempt is running now (the message cannot be cancelled at this moment). */
  readonly busy: boolean;
}

export interface MailSubmission {
  /** Checks the sender (one of the account's addresses), delivers local recipients and queues remote ones; durable when it resolves. NOT_AUTHORIZED for a foreign sender. */
  submit(submission: Submission): Promise<Result<SubmissionReceipt>>;
  /** The queue's state of a submitted message (by its id); null when the queue never had it or has forgotten it. */
  queued(id: string): QueuedMessageStatus | null;
  /** Takes a queued message out before anything of it was delivered; false when too late (delivered to someone, or being tried now). */
  cancel(id: string): Promise<Result<boolean>>;
  /** Calls `listener` with each queued message (its id and envelope sender) the queue finishes; returns the unsubscribe function. */
  onFinished?(listener: (id: string, mailFrom: string) => void): () => void;
}

/** A plain local@domain address within RFC 5321's lengths (64 and 255): what submission accepts as a recipient. */
export function isMailboxAddress(address: string): boolean {
  return /^[^\s<>@]{1,64}@[^\s<>@]{1,255}$/.test(address);
}

/** May `account` use `address` as its envelope sender (SMTP MAIL FROM, JMAP envelope, identities)? */
export function isOwnAddress(account: Account, address: string): boolean {
  const lower = address.toLowerCase();
  return lower === account.address || account.aliases.includes(lower);
}

/** The listening services of shared/CONTRACT.md, by the names the server's port table uses. */
export type ServiceName = 'imap' | 'imaps' | 'pop3' | 'pop3s' | 'smtp' | 'submission' | 'submissions' | 'lmtp' | 'https' | 'http';

/** Where a front end should listen: the host, and the port of each service (0: any free port). */
export interface ListenPlan {
  readonly host: string;
  port(service: ServiceName): number;
}

/** A running front end, as the server holds it. */
export interface FrontEnd {
  /** e.g. 'IMAP 127.0.0.1:1143 (STARTTLS), 127.0.0.1:1993 (TLS)'. */
  readonly description: string;
  /** The ports it actually listens on (the real ones when the plan said 0). */
  readonly ports: Readonly<Partial<Record<ServiceName, number>>>;
  /** Stops accepting, tells open sessions the server is going away, closes them. */
  close(): Promise<void>;
}
