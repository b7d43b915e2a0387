// Every limit of the storage engine, in one place, units last.

/** A log segment is closed and a new one started once it holds this many bytes. */
export const segmentBytesMax = 64 * 1024 * 1024;
/**
 * The log writes this many zeros ahead of its data in the current segment, so most batches
 * overwrite allocated blocks and their fdatasync commits no size change (docs/internals/write-path.md).
 */
export const logPreallocBytes = 4 * 1024 * 1024;
/** Group commit: the most bytes of records framed into one batch (one write, one fsync). */
export const batchBytesMax = 64 * 1024 * 1024;
/**
 * Group commit pipeline: batches framed and not yet synced. A second one is framed (and
 * written) while one is synced only for a large group (half of batchSplitBytesMin or more);
 * small batches go one at a time, so each carries the durable mark of the one before it.
 */
export const logPipelineBatchesMax = 2;
/**
 * The flush map is written in the background once it lags this far behind the synced end (under
 * load, batches carry their durable marks and answers never wait for it), so recovery, which
 * scans from the flush map's durable end on, reads at most about this much log.
 */
export const flushMapLagBytesMax = 16 * 1024 * 1024;
/**
 * A passive copy marks its received tail in the flush map once no batch has arrived for this
 * long: under a steady stream every received batch carries the mark of the one before it.
 */
export const passiveMarkIdleMs = 250;
/**
 * Durable batches whose state-store write may wait behind the one in flight (merged into the
 * next write, served from memory meanwhile); one more waits, so the store cannot fall far behind.
 */
export const stateBatchesBehindMax = 16;
/**
 * Writes up to this size are made with a synchronous write() on the event loop (a page-cache
 * copy), larger ones through the thread pool so a big batch never blocks the loop.
 */
export const syncWriteBytesMax = 256 * 1024;
/**
 * Group commit: when nothing is on its way to disk and this many bytes or more wait, the first
 * batch takes only about half of them, so the second half is framed while the first is written.
 */
export const batchSplitBytesMin = 4 * 1024 * 1024;
/** Group commit: the most transactions gathered into one batch. */
export const batchTransactionsMax = 4096;
/** Largest message the engine stores; front ends advertise this (APPENDLIMIT, SIZE). */
export const messageBytesMax = 48 * 1024 * 1024;
/**
 * A message's own header prefix (append `prefix`: a delivery's Return-Path and Delivered-To,
 * kept per message in front of the shared content). It is held in memory with the message's
 * metadata, so it is kept small.
 */
export const messagePrefixBytesMax = 4 * 1024;
/** Requests in one commitMany (one delivery's recipient mailboxes of a database). */
export const commitManyRequestsMax = 1000;
/** Content smaller than this is stored as it is: compressing it does not pay. */
export const compressBytesMin = 512;
/** Compressed content is kept only if it is at most this share of the original. */
export const compressRatioMax = 0.9;
/** Transactions waiting for the next batch; beyond it, commit answers LIMIT (backpressure). */
export const commitQueueTransactionsMax = 65536;
/** Operations in one transaction. */
export const transactionOpsMax = 10000;
/** Folder name length in bytes (UTF-8). */
export const folderNameBytesMax = 1024;
/** Folder hierarchy depth. */
export const folderDepthMax = 32;
/** Folders per mailbox. */
export const foldersPerMailboxMax = 10000;
/** ACL entries (RFC 4314 identifiers with rights) on one folder, and an identifier's length. */
export const aclEntriesPerFolderMax = 256;
export const aclIdentifierBytesMax = 320;
/** The RFC 4314 rights a folder's ACL can grant, in the RFC's order. */
export const aclRights = 'lrswipkxtea';
/** Folders one sharedFolders call answers with at most. */
export const sharedFoldersPerCallMax = 1000;
/** A mail-enabled folder's SMTP address, at most this long (RFC 5321 path limit). */
export const folderAddressBytesMax = 254;
/** Keywords (user flags) on one message, and their length. */
export const flagsPerMessageMax = 128;
export const flagBytesMax = 256;
/** Checkpoint depth: the active copy writes state to RocksDB after at most this much log. */
export const checkpointDepthBytesActive = 0;
/** Passive copies keep a deeper checkpoint, as Exchange 2013 did (fewer state writes). */
export const checkpointDepthBytesPassive = 8 * 1024 * 1024;
/**
 * Low-disk guard: with less than this free in a database's file system, commits answer
 * DISK_FULL (and passive copies stop receiving) before a log or state write can fail half-way.
 * Larger than the biggest batch (batchBytesMax) plus the state writes it causes.
 */
export const diskFreeBytesMinDefault = 256 * 1024 * 1024;
/** How often the low-disk guard reads the free space (a statfs), at most. */
export const diskFreeCheckIntervalMs = 1000;
/**
 * Expunged UIDs a folder remembers (with their modseqs) for QRESYNC VANISHED and JMAP changes.
 * Older ones are dropped; a listing asked for changes from before them says it is incomplete.
 */
export const expungedPerFolderMax = 4096;
/**
 * Account documents (JMAP identities, submissions, the vacation response; DocumentSet): a kind
 * is a lower-case name of at most documentKindBytesMax bytes, an id at most documentIdBytesMax
 * bytes (an address fits), a value's JSON at most documentBytesMax bytes. A mailbox keeps at
 * most documentKindsPerMailboxMax kinds of at most documentsPerKindMax documents each (all held
 * in memory with the rest of the state), and per kind the newest documentsDestroyedKeptMax
 * destroyed ids for JMAP changes.
 */
export const documentKindBytesMax = 32;
export const documentIdBytesMax = 320;
export const documentBytesMax = 1024 * 1024;
export const documentKindsPerMailboxMax = 16;
export const documentsPerKindMax = 10_000;
export const documentsDestroyedKeptMax = 1024;
/** Change-feed listeners per mailbox. */
export const watchersPerMailboxMax = 1024;
/** The hierarchy separator of folder names. */
export const folderSeparator = '/';
/** Folders created with every new mailbox, with their special-use attribute (RFC 6154). */
export const defaultFolders: ReadonlyArray<readonly [string, string | null]> = [
  ['INBOX', null],
  ['Drafts', '\\Drafts'],
  ['Sent', '\\Sent'],
  ['Trash', '\\Trash'],
  ['Junk', '\\Junk'],
  ['Archive', '\\Archive'],
];
