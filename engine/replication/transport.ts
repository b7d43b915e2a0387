// The shipping transport: how an active copy's durable batches reach its passive copies.
// Two implementations sit behind this interface: embedded (copies in one server process,
// handed over through the supervisor) and Kafka (one topic per database, one message per
// batch, a transactional producer whose epoch fences an old active copy).
//
// The supervisor owns ordering: it publishes a database's batches in log order, each exactly
// once per activation, and a subscriber delivers them to its copy in log order.

import type { BatchEnvelope } from './envelope.js';


export interface CopyName {
  readonly server: string;
  readonly copy: number;
}

/** An active copy's side. Opening one fences every publisher of an earlier generation. */
export interface Publisher {
  readonly generation: number;
  /**
   * Resolves once the batch is safe in the transport (Kafka: the transaction holding it is
   * committed with acks from every in-sync replica; embedded: at least one passive copy has it
   * durably, when one is healthy). Rejects with FencedError when a newer active took over.
   */
  publish(envelope: BatchEnvelope): Promise<void>;
  close(): Promise<void>;
}

/** A passive copy's feed. */
export interface Subscription {
  /** Resolves once the ACTIVATION envelope of `generation` (or a later one) was delivered. */
  drained(generation: number): Promise<void>;
  close(): Promise<void>;
}

export interface SubscribeOptions {
  readonly database: string;
  readonly who: CopyName;
  /** The copy's log end: the next batch it needs starts here. */
  readonly expected: () => number;
  /** Verifies, appends and replays one batch (or notes an activation); throws to stop the feed. */
  readonly deliver: (envelope: BatchEnvelope) => Promise<void>;
  /** The feed stopped on an error it cannot get past (gap, divergence, failed delivery). */
  readonly onError: (error: Error) => void;
}

/** Which copy of a database is active, as the servers agree on it. */
export interface Activation {
  readonly database: string;
  readonly generation: number;
  readonly server: string;
  readonly copy: number;
}

/**
 * How other servers reach this one for the last logs of a database it held active (its admin
 * API's HTTPS listener, server/peers.ts): the URL, the listener's certificate (PEM, pinned by
 * the caller) and the Bearer token that endpoint alone accepts. Advertised through the
 * transport, so whoever can read it can already read every database's log from Kafka.
 */
export interface PeerAddress {
  readonly server: string;
  readonly url: string;
  readonly certificate: string;
  readonly token: string;
}

/** A server gives a database up: its active copy failed and no copy on it can take over. */
export interface Release {
  readonly database: string;
  readonly server: string;
  /** The generation the released copy was active at (an older release is ignored). */
  readonly generation: number;
}

/**
 * Coordination between servers (Kafka transport only): a compacted control topic holding the
 * latest activation of each database, and group membership saying which servers are alive.
 */
export interface Coordinator {
  /** The latest activation of each database (read to the end of the control topic). */
  readActivations(): Promise<Map<string, Activation>>;
  recordActivation(activation: Activation): Promise<void>;
  /** Joins the servers' group as `server`; `onMembers` gets the live servers' names after each check. */
  join(server: string, onMembers: (servers: ReadonlySet<string>) => void): Promise<void>;
  leave(): Promise<void>;
  /**
   * Hands an opaque payload to whichever server holds the database's active copy (the safety
   * net's deliveries after a divergent tail was cut off on another server).
   */
  handOver(database: string, payload: Uint8Array): Promise<void>;
  /** Receives hand-overs (every server does; each keeps those for databases active on it). */
  receiveHandOvers(server: string, handler: (database: string, payload: Uint8Array) => Promise<void>): Promise<void>;
  /** Publishes how the other servers reach this one (a compacted topic: the latest per server). */
  advertise(peer: PeerAddress): Promise<void>;
  /** The address `server` advertised last, as read so far. */
  peer(server: string): PeerAddress | undefined;
  /** Tells the other servers to take the database over (see Release). */
  release(release: Release): Promise<void>;
  /** Reads every server's address and release, from the start and then as they come. */
  watchPeers(onRelease: (release: Release) => void): Promise<void>;
}

export interface ShippingTransport {
  readonly kind: 'embedded' | 'kafka';
  readonly coordinator?: Coordinator;
  /** Creates the database's topic (Kafka) or nothing (embedded). */
  prepare(database: string): Promise<void>;
  /**
   * Opens the active side for `generation`, fences every earlier one, and records an
   * ACTIVATION envelope at `position` (where the new active copy's log ends).
   */
  openPublisher(database: string, who: CopyName, generation: number, position: number): Promise<Publisher>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /**
   * Deletes what every copy has received from the transport's own store (Kafka: records below
   * the lowest offset every copy's consumer group committed). Resolves to the first record
   * kept, or null when nothing could be deleted (a copy has committed nothing yet). The active
   * copy's own group (left from when it was passive) does not count.
   */
  truncate?(database: string, active: CopyName): Promise<number | null>;
  close(): Promise<void>;
}

export class FencedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FencedError';
  }
}

/** The ACTIVATION generations a subscription has delivered, and who waits for one (Subscription.drained). */
export class GenerationWaiters {
  private seen = 0;
  private readonly waiters: Array<{ generation: number; resolve: () => void }> = [];

  saw(generation: number): void {
    this.seen = Math.max(this.seen, generation);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i]!.generation <= this.seen) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }

  reached(generation: number): Promise<void> {
    if (this.seen >= generation) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ generation, resolve }));
  }
}
