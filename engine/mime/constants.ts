// Every limit of the MIME parser, units last. A message beyond a limit is still stored and
// served byte for byte; only its parsed structure stops at the limit (noted in `problems`).

/** Nesting of multiparts and message/rfc822 parts below the message itself. */
export const mimeDepthMax = 16;
/** MIME entities in one message (every part, multipart and encapsulated message counted). */
export const mimePartsMax = 512;
/** Header bytes of one entity that are parsed into fields; fields starting later are ignored. */
export const headerBytesMax = 256 * 1024;
/** Header fields of one entity that are parsed (and indexed for the top-level header). */
export const headerFieldsMax = 1000;
/** Addresses in one address header. */
export const addressesMax = 1000;
/** Parameters of one Content-Type / Content-Disposition. */
export const paramsMax = 64;
/** Longest multipart boundary accepted (RFC 2046 allows 70; mailers exceed it a little). */
export const boundaryBytesMax = 200;
/** Message ids kept from one References header. */
export const referencesMax = 256;
/** JMAP preview length in characters. */
export const previewCharsMax = 256;
/** Bytes of a text part decoded to build the preview. */
export const previewSourceBytesMax = 64 * 1024;
/** Messages in one summaries() call (a front end fetching more asks in pieces). */
export const summariesPerCallMax = 5000;
/** MIME summaries a database keeps in memory (by content hash, least recently used dropped). */
export const summaryCacheEntriesMax = 10000;
