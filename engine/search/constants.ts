// Every limit of content search, units last.

/** Decoded text of one message that is searched and indexed (text parts beyond it are not). */
export const bodyTextBytesMax = 4 * 1024 * 1024;
/** Criteria nodes in one search query. */
export const criteriaNodesMax = 256;
/** Characters of one search string. */
export const searchValueCharsMax = 1024;
/** Documents changed (indexed or forgotten) before a new snapshot of the index is written (also: a quarter of the index). */
export const snapshotChangesMin = 2000;
/** Longest slice of snapshot encoding before it yields to the event loop (the database's commits wait no longer than that for it). */
export const snapshotSliceMs = 5;
/** Longest slice of indexing before it yields to the event loop (commits, replay and reads wait no longer than that for it). */
export const indexSliceMs = 5;
/** Contents indexed in one slice at most (the time bound usually comes first; the simulator, whose clock stands still, sets it low). */
export const indexSliceDocumentsMax = 256;
/**
 * Bytes of new contents held in memory waiting to be indexed (as they came in the log: deflated
 * or not). Past it, a content is queued by hash only and read back from the state store when
 * its turn comes (the catch-up crawl's read).
 */
export const indexBacklogBytesMax = 32 * 1024 * 1024;
/** A passive copy indexes what it replayed once no batch was replayed for this long... */
export const passiveIndexIdleMs = 500;
/** ...or once the oldest content not indexed is this old (its lag is bounded: a promoted copy is not far behind). */
export const passiveIndexLagMsMax = 60_000;
/** How often a passive copy waiting for quiet replay looks again (a promotion is seen within it). */
export const passiveIndexPollMs = 100;
/** Message prefixes' searchable texts kept between searches (a mailbox's deliveries share few distinct prefixes). */
export const prefixTextsCachedMax = 4096;
