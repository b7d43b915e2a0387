// Limits of the directory, in one place. Tests hit each one at the limit and limit + 1.

/** RFC 5321 4.5.3.1.3: a path is at most 256 octets including the angle brackets, so 254 for the address. */
export const addressBytesMax = 254;
/** RFC 5321 4.5.3.1.1. */
export const localPartBytesMax = 64;
/** RFC 1035 2.3.4 (253 without the trailing dot). */
export const domainBytesMax = 253;
/** RFC 1035 2.3.4. */
export const domainLabelBytesMax = 63;

/** Passwords are hashed whole; a cap keeps one login from costing more than the KDF itself. */
export const passwordBytesMax = 1024;
export const passwordBytesMin = 1;

export const displayNameBytesMax = 256;
/** Database names are short identifiers like DB01. */
export const databaseNameBytesMax = 32;

export const aliasesPerUserMax = 100;
export const groupMembersMax = 1000;
/** Nested groups deeper than this are refused at expansion (LIMIT), like Exchange's expansion cap. */
export const groupDepthMax = 8;
/** An expansion that reaches more recipients than this is refused (LIMIT) rather than fanned out. */
export const resolvedRecipientsMax = 10_000;

/** 1 PiB: anything larger is a typo, and it stays a safe integer. */
export const quotaBytesMax = 2 ** 50;

/** A group of groupMembersMax full-length addresses fits with room to spare. */
export const logLineBytesMax = 1024 * 1024;
/** Compact only when the log has at least this many records ... */
export const compactionRecordsMin = 1024;
/** ... and more than this many records per live entity (domain, user, alias, group). */
export const compactionRecordsPerEntityMax = 4;

// ----- LDAP (ldap.ts) -----

/** How long a looked-up entry (found or not found) is reused before LDAP is asked again. */
export const ldapCacheTtlMsDefault = 60_000;
/** Cached lookups kept at most; the oldest go first. */
export const ldapCacheEntriesMax = 10_000;
/** One LDAP operation (bind, search) gives up after this long: the directory is then unavailable. */
export const ldapOperationTimeoutMsDefault = 5_000;
export const ldapConnectTimeoutMsDefault = 3_000;
/** Entries a listing (address book, `quire user list`) reads at most; more is LIMIT, not a silent cut. */
export const ldapListEntriesMax = 100_000;
/** Page size of listing searches (OpenLDAP's default server size limit is 500). */
export const ldapPageSize = 500;
/** Entries one group expansion may read (members of every nested group together). */
export const ldapExpansionEntriesMax = 20_000;
/** Member entries of one group read at the same time. */
export const ldapMemberReadsParallelMax = 16;
