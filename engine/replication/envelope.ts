// The shipped batch envelope, codec version 1: what one Kafka message (and one embedded
// hand-over) carries. The log bytes travel exactly as the active copy wrote them; the envelope
// only names them, so a passive copy can check them before it even scans them.
//
//   record LogBatchV1 (Avro, subject "<topic>-value" in the schema registry)
//   ┌──────────────┬──────────────────────────────────────────────────────────────────────┐
//   │ database      │ string  the database the bytes belong to                            │
//   │ kind          │ enum    BATCH: log bytes; ACTIVATION: a new active copy took over    │
//   │ firstPosition │ long    log position of the batch's first record                    │
//   │ endPosition   │ long    position just past its last record (the next firstPosition) │
//   │ recordCount   │ int     records in `bytes` (0 for ACTIVATION)                        │
//   │ checksum      │ long    CRC32C of `bytes` (u32)                                      │
//   │ generation    │ long    activation generation of the copy that wrote it             │
//   │ server, copy  │ string, int  which copy was active (ACTIVATION names the new one)    │
//   │ bytes         │ bytes   the framed log records, byte for byte                        │
//   └──────────────┴──────────────────────────────────────────────────────────────────────┘
// An ACTIVATION envelope is the marker a new active copy writes, once it has fenced the old
// one, at the log end it took over at: a passive copy that has read it has read every batch
// the old active managed to commit.

import { crc32c } from '../checksum.js';
import { scanBytes, ScanStatus } from '../log/codec.js';

export type EnvelopeKind = 'BATCH' | 'ACTIVATION';

export interface BatchEnvelope {
  readonly database: string;
  readonly kind: EnvelopeKind;
  readonly firstPosition: number;
  readonly endPosition: number;
  readonly recordCount: number;
  readonly checksum: number;
  readonly generation: number;
  readonly server: string;
  readonly copy: number;
  readonly bytes: Uint8Array;
}

export const envelopeSchemaV1 = {
  type: 'record',
  name: 'LogBatchV1',
  namespace: 'org.quire.shipping',
  doc: 'One commit batch of a Quire database transaction log, shipped to its passive copies',
  fields: [
    { name: 'database', type: 'string' },
    { name: 'kind', type: { type: 'enum', name: 'EnvelopeKind', symbols: ['BATCH', 'ACTIVATION'] } },
    { name: 'firstPosition', type: 'long' },
    { name: 'endPosition', type: 'long' },
    { name: 'recordCount', type: 'int' },
    { name: 'checksum', type: 'long' },
    { name: 'generation', type: 'long' },
    { name: 'server', type: 'string' },
    { name: 'copy', type: 'int' },
    { name: 'bytes', type: 'bytes' },
  ],
} as const;

export class ShippingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShippingError';
  }
}

/** Wraps one durable batch (bytes as the log framed them) for shipping. */
export function batchEnvelope(database: string, generation: number, server: string, copy: number, start: number, bytes: Uint8Array): BatchEnvelope {
  const scan = scanBytes(bytes, start);
  if (scan.status !== ScanStatus.ok || scan.validBytes !== bytes.length) throw new ShippingError(`batch at ${start} of ${database} does not verify before shipping`);
  return { database, kind: 'BATCH', firstPosition: start, endPosition: start + bytes.length, recordCount: scan.records, checksum: crc32c(bytes), generation, server, copy, bytes };
}

export function activationEnvelope(database: string, generation: number, server: string, copy: number, position: number): BatchEnvelope {
  return { database, kind: 'ACTIVATION', firstPosition: position, endPosition: position, recordCount: 0, checksum: crc32c(new Uint8Array(0)), generation, server, copy, bytes: new Uint8Array(0) };
}

/** The envelope's own claims, checked before the passive copy scans the bytes at its position. */
export function checkEnvelope(envelope: BatchEnvelope, database: string): void {
  if (envelope.database !== database) throw new ShippingError(`envelope for ${envelope.database} arrived at ${database}`);
  if (envelope.endPosition - envelope.firstPosition !== envelope.bytes.length) {
    throw new ShippingError(`envelope ${envelope.firstPosition}..${envelope.endPosition} carries ${envelope.bytes.length} bytes`);
  }
  if (crc32c(envelope.bytes) !== envelope.checksum) throw new ShippingError(`envelope at ${envelope.firstPosition} of ${database} fails its checksum`);
}
