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
/** Message prefixes' searchable texts kept between searches (a mailbox's deliveries share few distinct prefixes). */
export const prefixTextsCachedMax = 4096;
