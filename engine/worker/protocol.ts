// The messages between the supervisor (and the front ends in its process) and a database
// worker process, over Node's IPC channel with the structured-clone ("advanced")
// serialization, so message bytes travel as Uint8Array without base64.

import type { ContentCriterion, Section, TxRequest } from '../api.js';
import type { Role } from '../database.js';

export interface OpenParams {
  readonly name: string;
  readonly dir: string;
  readonly role: Role;
  /** Write the copy's log with a failure point, for tests of the crash path. */
  readonly crashAfterBatches?: number;
  /**
   * Sync durability: a batch's commits answer only once the supervisor says the batch is
   * shipped (a `shipped` message for its `seq`); a shipping error fails them.
   */
  readonly shipAck?: boolean;
  /** Log segment size (tests of truncation use small segments). */
  readonly logSegmentBytesMax?: number;
  /** The low-disk guard's reserve in bytes (0: off); default the engine's. */
  readonly diskFreeBytesMin?: number;
  /** A passive copy's checkpoint depth in bytes of log; default the engine's. */
  readonly checkpointDepthBytes?: number;
  /** false for a lagged copy: open at the checkpoint, replay only when told (playForward). */
  readonly replayAtOpen?: boolean;
}

export type Request =
  | { readonly id: number; readonly method: 'commit'; readonly params: TxRequest }
  | { readonly id: number; readonly method: 'commitMany'; readonly params: { requests: readonly TxRequest[] } }
  | { readonly id: number; readonly method: 'mailbox'; readonly params: { mailboxId: string } }
  | { readonly id: number; readonly method: 'folders'; readonly params: { mailboxId: string } }
  | { readonly id: number; readonly method: 'sharedFolders'; readonly params: { identifier: string } }
  | { readonly id: number; readonly method: 'listMessages'; readonly params: { mailboxId: string; folder: string; changedSince?: number; history?: boolean } }
  | { readonly id: number; readonly method: 'documents'; readonly params: { mailboxId: string; kind: string; ids?: readonly string[] } }
  | { readonly id: number; readonly method: 'readMessage'; readonly params: { mailboxId: string; folder: string; uid: number } }
  | { readonly id: number; readonly method: 'summaries'; readonly params: { mailboxId: string; folder: string; uids: readonly number[] } }
  | { readonly id: number; readonly method: 'readPart'; readonly params: { mailboxId: string; folder: string; uid: number; section: Section; binary: boolean } }
  | { readonly id: number; readonly method: 'bodyValues'; readonly params: { mailboxId: string; folder: string; uid: number; partIds: readonly string[]; bytesMax: number } }
  | { readonly id: number; readonly method: 'search'; readonly params: { mailboxId: string; folder: string; criterion: ContentCriterion; uids?: readonly number[] } }
  | { readonly id: number; readonly method: 'watch'; readonly params: { mailboxId: string; on: boolean } }
  | { readonly id: number; readonly method: 'status'; readonly params: Record<string, never> }
  | { readonly id: number; readonly method: 'receiveBatch'; readonly params: { start: number; bytes: Uint8Array; replayTo?: number; mark?: boolean } }
  | { readonly id: number; readonly method: 'playForward'; readonly params: { to: number; boundary?: boolean } }
  | { readonly id: number; readonly method: 'snapshot'; readonly params: { dir: string } }
  | { readonly id: number; readonly method: 'readBatches'; readonly params: { from: number; bytesMax: number } }
  | { readonly id: number; readonly method: 'truncateLog'; readonly params: { position: number } }
  | { readonly id: number; readonly method: 'promote'; readonly params: { shipAck: boolean } }
  | { readonly id: number; readonly method: 'ping'; readonly params: Record<string, never> }
  | { readonly id: number; readonly method: 'close'; readonly params: Record<string, never> };

export type Method = Request['method'];

export type Reply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: string };

/**
 * Several messages in one IPC write: what one side queued during one turn of its event loop
 * (engine/worker/outbox.ts). Each write wakes the process at the other end, and on a busy
 * machine that wake-up costs more than the bytes; requests of many sessions, and the answers
 * and change notices of one group-committed batch, travel together.
 */
export interface Many<T> {
  readonly many: readonly T[];
}

/** Unsolicited messages from a worker. */
export type Notice =
  | { readonly notice: 'ready'; readonly status: unknown }
  | { readonly notice: 'change'; readonly change: unknown }
  | { readonly notice: 'batch'; readonly start: number; readonly end: number; readonly bytes: Uint8Array; readonly seq: number }
  | { readonly notice: 'failed'; readonly error: string };

/** The supervisor's answer to a `batch` notice when the worker runs with shipAck. */
export interface Shipped {
  readonly shipped: number;
  /** Set when the batch could not be shipped (e.g. this copy was fenced by a newer active). */
  readonly error?: string;
}
