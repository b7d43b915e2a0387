// Every limit of content search, units last.

/** Decoded text of one message that is searched and indexed (text parts beyond it are not). */
export const bodyTextBytesMax = 4 * 1024 * 1024;
/** Criteria nodes in one search query. */
export const criteriaNodesMax = 256;
/** Characters of one search string. */
export const searchValueCharsMax = 1024;
/** Contents indexed per slice of the crawl before it yields to other work. */
export const crawlSliceContents = 64;
