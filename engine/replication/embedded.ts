// The embedded shipping transport: every copy lives under one supervisor (one machine). A
// batch's bytes come from the active worker's durable notice and go straight to each passive
// copy that is caught up; a copy that is behind (it was down, suspended or just started)
// catches up by reading verified batches from the active copy's log. Fencing is by activation
// generation: once a newer publisher opened, an older one's publish is refused.

import { activationEnvelope, batchEnvelope, type BatchEnvelope } from './envelope.js';
import { type CopyName, FencedError, GenerationWaiters, type Publisher, type ShippingTransport, type SubscribeOptions, type Subscription } from './transport.js';

/** How long a publish waits for a passive copy that is catching up before answering without it. */
export const syncCatchUpWaitMsMax = 30_000;

/** Reads verified batches of the database's current active copy from `from` on (empty when none is mounted). */
export type BatchSource = (database: string, from: number) => Promise<Array<{ start: number; bytes: Uint8Array }>>;

class EmbeddedSubscription implements Subscription {
  private queue: Promise<unknown> = Promise.resolve();
  private catchingUp = false;
  /** A batch was offered while catching up: read again before stopping. */
  private again = false;
  private readonly reaching: Array<{ end: number; resolve: (reached: boolean) => void }> = [];
  private closed = false;
  private readonly generations = new GenerationWaiters();

  constructor(private readonly options: SubscribeOptions, private readonly transport: EmbeddedTransport) {}

  /**
   * Delivers the envelope if this copy is exactly at its start; otherwise starts a catch-up
   * (from the active copy's log). True once this copy has the batch; false if it stops first.
   */
  offer(envelope: BatchEnvelope): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (envelope.kind === 'ACTIVATION') return this.enqueue(envelope);
    if (this.catchingUp || envelope.firstPosition !== this.options.expected()) {
      this.again = true;
      if (envelope.endPosition <= this.options.expected()) return Promise.resolve(true);
      this.catchUp();
      return new Promise((resolve) => this.reaching.push({ end: envelope.endPosition, resolve }));
    }
    return this.enqueue(envelope);
  }

  /** Answers the offers waiting for a position this copy has now reached (or, closing, never will). */
  private settleReaching(closing = false): void {
    const expected = this.options.expected();
    for (let i = this.reaching.length - 1; i >= 0; i--) {
      const waiter = this.reaching[i]!;
      if (closing || waiter.end <= expected) {
        this.reaching.splice(i, 1);
        waiter.resolve(!closing);
      }
    }
  }

  private enqueue(envelope: BatchEnvelope): Promise<boolean> {
    const delivered = this.queue.then(async () => {
      if (this.closed) return false;
      if (envelope.kind === 'BATCH' && envelope.firstPosition !== this.options.expected()) return false;
      await this.options.deliver(envelope);
      if (envelope.kind === 'ACTIVATION') this.sawGeneration(envelope.generation);
      else this.settleReaching();
      return true;
    });
    this.queue = delivered.catch((error: Error) => this.fail(error));
    return delivered.catch(() => false);
  }

  catchUp(): void {
    if (this.catchingUp || this.closed) return;
    this.catchingUp = true;
    this.queue = this.queue
      .then(async () => {
        for (;;) {
          if (this.closed) return;
          this.again = false;
          const batches = await this.transport.source(this.options.database, this.options.expected());
          if (batches.length === 0 && !this.again) return;
          for (const batch of batches) {
            if (this.closed) return;
            const envelope = batchEnvelope(this.options.database, this.transport.generationOf(this.options.database), '', 0, batch.start, batch.bytes);
            await this.options.deliver(envelope);
            this.settleReaching();
          }
        }
      })
      .catch((error: Error) => this.fail(error))
      .finally(() => (this.catchingUp = false));
  }

  private fail(error: Error): void {
    this.settleReaching(true);
    if (!this.closed) this.options.onError(error);
  }

  private sawGeneration(generation: number): void {
    this.generations.saw(generation);
  }

  drained(generation: number): Promise<void> {
    return this.generations.reached(generation);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.settleReaching(true);
    this.transport.unsubscribe(this);
    await this.queue.catch(() => {});
  }

  get database(): string {
    return this.options.database;
  }
}

export class EmbeddedTransport implements ShippingTransport {
  readonly kind = 'embedded' as const;
  private readonly subscriptions = new Set<EmbeddedSubscription>();
  private readonly generations = new Map<string, number>();

  constructor(readonly source: BatchSource) {}

  generationOf(database: string): number {
    return this.generations.get(database) ?? 0;
  }

  async prepare(): Promise<void> {}

  async openPublisher(database: string, who: CopyName, generation: number, position: number): Promise<Publisher> {
    if (generation <= this.generationOf(database)) throw new FencedError(`${database}: generation ${generation} is not newer than ${this.generationOf(database)}`);
    this.generations.set(database, generation);
    const activation = activationEnvelope(database, generation, who.server, who.copy, position);
    for (const subscription of this.subscriptionsOf(database)) void subscription.offer(activation);
    return {
      generation,
      publish: async (envelope) => {
        if (this.generationOf(database) !== generation) {
          throw new FencedError(`${database}: this active copy (generation ${generation}) was superseded by generation ${this.generationOf(database)}`);
        }
        const offers = this.subscriptionsOf(database).map((s) => s.offer(envelope));
        if (offers.length === 0) return;
        // Safe once one copy has it (a copy that is behind gets it by catching up). When every
        // copy stops first, or none gets there in time, the active's own log is all there is.
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          let pending = offers.length;
          for (const offer of offers) {
            void offer.then((delivered) => {
              pending -= 1;
              if (delivered || pending === 0) resolve();
            });
          }
          timer = setTimeout(resolve, syncCatchUpWaitMsMax);
        });
        clearTimeout(timer);
      },
      close: async () => {},
    };
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const subscription = new EmbeddedSubscription(options, this);
    this.subscriptions.add(subscription);
    subscription.catchUp();
    return subscription;
  }

  /** Nudges every subscription of the database to catch up (its active copy just mounted). */
  kick(database: string): void {
    for (const subscription of this.subscriptionsOf(database)) subscription.catchUp();
  }

  unsubscribe(subscription: EmbeddedSubscription): void {
    this.subscriptions.delete(subscription);
  }

  private subscriptionsOf(database: string): EmbeddedSubscription[] {
    return [...this.subscriptions].filter((s) => s.database === database);
  }

  async close(): Promise<void> {
    for (const subscription of [...this.subscriptions]) await subscription.close();
  }
}
