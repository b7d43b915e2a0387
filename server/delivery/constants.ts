// Limits and defaults of the transport's durable stores, units last.

/** How long the safety net keeps a delivered message (Exchange's SafetyNetHoldTime defaults to 2 days). */
export const safetyNetRetentionMsDefault = 2 * 24 * 3600_000;
/** One safety-net segment file covers this much time; pruning removes whole segments. */
export const safetyNetSegmentMs = 3600_000;
/** A record bigger than this is damage, not a message (the engine's message limit plus headers and metadata). */
export const safetyNetRecordBytesMax = 64 * 1024 * 1024;
/** Zeros written ahead of the newest segment's records, so most appends' fdatasync commits no size change. */
export const safetyNetPreallocBytes = 1024 * 1024;
/** How often the running server prunes the safety net. */
export const safetyNetPruneIntervalMs = 10 * 60_000;

/** First retry of an outbound message after this long; doubled on each failure. */
export const outboundRetryMsBase = 60_000;
/** Retries are never further apart than this. */
export const outboundRetryMsMax = 3600_000;
/** A message still being retried after this long gets one delay report, for recipients that asked (NOTIFY=DELAY; sendmail's queuewarn). */
export const outboundDelayWarningMsDefault = 4 * 3600_000;
/** A message still undelivered after this long is bounced to its sender. */
export const outboundGiveUpMsDefault = 2 * 24 * 3600_000;
/** Messages delivered at once by the outbound queue. */
export const outboundConcurrencyMax = 8;
/** Connection, greeting and socket timeouts towards a remote server. */
export const outboundTimeoutMs = 60_000;

/** SPF/DKIM/DMARC checks of one inbound message give up after this long (no header is added then). */
export const mailAuthTimeoutMs = 10_000;
/** The DKIM selector of the key generated at first start. */
export const dkimSelector = 'quire';
/** RSA modulus of the generated DKIM key (RFC 8301: at least 1024, 2048 recommended). */
export const dkimKeyBits = 2048;
/** Finished outbound messages whose outcome the queue remembers (in memory) for JMAP deliveryStatus. */
export const finishedRemembered = 10_000;
