// The Kafka shipping transport. One topic per database (`quire.<database>`, one partition, so
// the topic's order is the log's order), one message per commit batch whose value is the Avro
// envelope (envelope.ts) registered in the schema registry. The active copy publishes through a
// transactional producer whose transactional id is the database's: when a new active copy
// opens its producer, Kafka bumps the epoch and the old one's next transaction is refused
// (fencing without a home-made quorum). Passive copies read committed messages only
// (read_committed), so an aborted or fenced transaction never reaches them.
//
// kafkajs is wrapped here and nowhere else: the rest of the engine sees ShippingTransport.

import kafkajs, { type Admin, type Consumer, type Producer } from 'kafkajs';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { batchBytesMax } from '../constants.js';
import { activationEnvelope, type BatchEnvelope, envelopeSchemaV1 } from './envelope.js';
import { type Activation, type Coordinator, type CopyName, type PeerAddress, type Release, FencedError, GenerationWaiters, type Publisher, type ShippingTransport, type SubscribeOptions, type Subscription } from './transport.js';

const { Kafka, logLevel } = kafkajs;

export interface KafkaTransportOptions {
  readonly brokers: readonly string[];
  readonly registryUrl: string;
  /** Prefix of every topic and group id (tests use a fresh one per run). */
  readonly prefix?: string;
  /** This server's name: Kafka's client id, and its name in the servers' group. */
  readonly clientId?: string;
  /** A server that stops heartbeating is out of the servers' group after this long (the broker's minimum applies). */
  readonly sessionTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

/** How often a server looks at who is in the servers' group. */
const membersPollMs = 500;

/** Envelopes per transaction at most; bytes per transaction at most (besides a single larger batch). */
const transactionEnvelopesMax = 256;
const transactionBytesMax = 8 * 1024 * 1024;
/** The topic must take the largest batch the log frames, plus the envelope. */
const topicMessageBytesMax = batchBytesMax + 1024 * 1024;
const sessionTimeoutMsDefault = 6_000;

const fencingErrorTypes = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);

/** True when the error (or one it wraps) is Kafka saying a newer producer took over. */
function isFencing(error: unknown): boolean {
  for (let e = error as { type?: string; code?: number; cause?: unknown; originalError?: unknown } | undefined; e != null; e = (e.cause ?? e.originalError) as typeof e) {
    if (e.type !== undefined && fencingErrorTypes.has(e.type)) return true;
    if (e.code === 90 || e.code === 47) return true; // PRODUCER_FENCED, INVALID_PRODUCER_EPOCH
    if (e === (e.cause ?? e.originalError)) break;
  }
  return false;
}

interface Queued {
  readonly envelope: BatchEnvelope;
  resolve(): void;
  reject(error: Error): void;
}

class KafkaPublisher implements Publisher {
  private queue: Queued[] = [];
  private running = false;
  private fenced: FencedError | null = null;
  private failed: Error | null = null;
  private closed = false;

  constructor(
    readonly generation: number,
    private readonly database: string,
    private readonly topic: string,
    private readonly producer: Producer,
    private readonly encode: (envelope: BatchEnvelope) => Promise<Buffer>,
  ) {}

  publish(envelope: BatchEnvelope): Promise<void> {
    if (this.fenced !== null) return Promise.reject(this.fenced);
    // After a failed transaction nothing more may go out: a later batch would leave a gap.
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error(`${this.database}: publisher closed`));
    return new Promise((resolve, reject) => {
      this.queue.push({ envelope, resolve, reject });
      if (!this.running) void this.loop();
    });
  }

  /** One transaction at a time, each taking every envelope waiting (in order): group commit for Kafka. */
  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        let bytes = 0;
        let count = 0;
        while (count < this.queue.length && count < transactionEnvelopesMax) {
          bytes += this.queue[count]!.envelope.bytes.length;
          if (count > 0 && bytes > transactionBytesMax) break;
          count += 1;
        }
        const group = this.queue.splice(0, count);
        try {
          await this.send(group.map((q) => q.envelope));
          for (const q of group) q.resolve();
        } catch (error) {
          if (isFencing(error)) {
            this.fenced = new FencedError(`${this.database}: this active copy (generation ${this.generation}) was fenced by a newer one: ${(error as Error).message}`);
          }
          const failure = this.fenced ?? new Error(`${this.database}: shipping to Kafka failed: ${(error as Error).message}`);
          this.failed = failure;
          for (const q of [...group, ...this.queue.splice(0)]) q.reject(failure);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async send(envelopes: BatchEnvelope[]): Promise<void> {
    const values = await Promise.all(envelopes.map((e) => this.encode(e)));
    const transaction = await this.producer.transaction();
    try {
      await transaction.send({
        topic: this.topic,
        acks: -1,
        messages: envelopes.map((e, i) => ({ key: this.database, value: values[i]!, headers: { kind: e.kind } })),
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => {});
      throw error;
    }
  }

  /**
   * Envelopes still waiting are refused (whoever closes a publisher has drained it first, or
   * gives the database up: what did not ship then is fetched from this copy's log by the next
   * active, or cut back as divergent); a transaction already sent is let finish.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(new Error(`${this.database}: publisher closed`));
    while (this.running) await new Promise((r) => setTimeout(r, 5));
    await this.producer.disconnect().catch(() => {});
  }
}

class KafkaSubscription implements Subscription {
  private readonly generations = new GenerationWaiters();
  private stopped = false;

  constructor(private readonly consumer: Consumer) {}

  sawGeneration(generation: number): void {
    this.generations.saw(generation);
  }

  drained(generation: number): Promise<void> {
    return this.generations.reached(generation);
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.consumer.disconnect().catch(() => {});
  }
}

/**
 * Control topic `<prefix>.control` (compacted, key = database, value = the latest activation as
 * JSON) and the servers' group `<prefix>.servers`: every server's member consumer joins it, and
 * the broker drops a server that stops heartbeating (kill -9, hang, partition) after its
 * session timeout. Kafka is the only arbiter: there is no vote among servers.
 */
class KafkaCoordinator implements Coordinator {
  private member: Consumer | null = null;
  private handOvers: Consumer | null = null;
  private peerReader: Consumer | null = null;
  private readonly peers = new Map<string, PeerAddress>();
  private timer: NodeJS.Timeout | null = null;
  private producer: Producer | null = null;

  constructor(private readonly transport: KafkaTransport, private readonly kafka: InstanceType<typeof Kafka>, private readonly sessionTimeoutMs: number) {}

  private get topic(): string {
    return this.transport.topicOf('_control');
  }

  private async prepare(): Promise<Admin> {
    const admin = await this.transport.adminClient();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: this.topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    return admin;
  }

  async readActivations(): Promise<Map<string, Activation>> {
    const admin = await this.prepare();
    const activations = new Map<string, Activation>();
    const [offsets] = await admin.fetchTopicOffsets(this.topic);
    const high = Number(offsets?.high ?? 0);
    const low = Number(offsets?.low ?? 0);
    if (high <= low) return activations;
    // No group to remember offsets: a fresh id reads the compacted topic from its start.
    const reader = this.kafka.consumer({ groupId: `${this.topic}.reader.${process.pid}.${Date.now()}`, maxWaitTimeInMs: 100 });
    await reader.connect();
    try {
      await reader.subscribe({ topic: this.topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        reader
          .run({
            autoCommit: false,
            eachMessage: async ({ message }) => {
              if (message.value !== null) {
                const activation = JSON.parse(message.value.toString('utf8')) as Activation;
                const known = activations.get(activation.database);
                if (known === undefined || known.generation <= activation.generation) activations.set(activation.database, activation);
              }
              if (Number(message.offset) + 1 >= high) resolve();
            },
          })
          .catch(reject);
      });
    } finally {
      await reader.disconnect().catch(() => {});
    }
    return activations;
  }

  /** The coordinator's one producer (activations, hand-overs, the peers topic), connected at first use. */
  private async connectedProducer(): Promise<Producer> {
    if (this.producer === null) {
      const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }

  async recordActivation(activation: Activation): Promise<void> {
    await this.prepare();
    await (await this.connectedProducer()).send({ topic: this.topic, acks: -1, messages: [{ key: activation.database, value: JSON.stringify(activation) }] });
  }

  async join(server: string, onMembers: (servers: ReadonlySet<string>) => void): Promise<void> {
    const admin = await this.prepare();
    const groupId = this.transport.topicOf('_servers');
    const member = this.kafka.consumer({ groupId, sessionTimeout: this.sessionTimeoutMs, heartbeatInterval: Math.max(100, Math.floor(this.sessionTimeoutMs / 5)), maxWaitTimeInMs: 500 });
    await member.connect();
    await member.subscribe({ topic: this.topic, fromBeginning: false });
    await member.run({ autoCommit: false, eachMessage: async () => {} });
    this.member = member;
    const poll = async (): Promise<void> => {
      try {
        const { groups } = await admin.describeGroups([groupId]);
        const names = new Set((groups[0]?.members ?? []).map((m) => m.clientId));
        names.add(server);
        onMembers(names);
      } catch {
        // the next poll tries again
      }
    };
    const tick = (): void => {
      this.timer = setTimeout(() => void poll().finally(() => this.timer !== null && tick()), membersPollMs);
    };
    tick();
  }

  private get handOverTopic(): string {
    return this.transport.topicOf('_handover');
  }

  private async prepareHandOver(): Promise<void> {
    const admin = await this.transport.adminClient();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: this.handOverTopic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(topicMessageBytesMax) }] }],
    });
  }

  async handOver(database: string, payload: Uint8Array): Promise<void> {
    await this.prepareHandOver();
    await (await this.connectedProducer()).send({ topic: this.handOverTopic, acks: -1, messages: [{ key: database, value: Buffer.from(payload.buffer, payload.byteOffset, payload.length) }] });
  }

  async receiveHandOvers(server: string, handler: (database: string, payload: Uint8Array) => Promise<void>): Promise<void> {
    await this.prepareHandOver();
    const consumer = this.kafka.consumer({ groupId: `${this.handOverTopic}.${server}`, maxBytesPerPartition: topicMessageBytesMax, maxBytes: topicMessageBytesMax, maxWaitTimeInMs: 500 });
    await consumer.connect();
    await consumer.subscribe({ topic: this.handOverTopic, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ message }) => {
        if (message.key === null || message.value === null) return;
        await handler(message.key.toString('utf8'), new Uint8Array(message.value.buffer, message.value.byteOffset, message.value.length));
      },
    });
    this.handOvers = consumer;
  }

  /** `<prefix>._peers` (compacted): key `server.<name>` a PeerAddress, key `release.<database>` a Release. */
  private get peersTopic(): string {
    return this.transport.topicOf('_peers');
  }

  private async send(topic: string, key: string, value: string): Promise<void> {
    const admin = await this.transport.adminClient();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    await (await this.connectedProducer()).send({ topic, acks: -1, messages: [{ key, value }] });
  }

  async advertise(peer: PeerAddress): Promise<void> {
    this.peers.set(peer.server, peer);
    await this.send(this.peersTopic, `server.${peer.server}`, JSON.stringify(peer));
  }

  peer(server: string): PeerAddress | undefined {
    return this.peers.get(server);
  }

  async release(release: Release): Promise<void> {
    await this.send(this.peersTopic, `release.${release.database}`, JSON.stringify(release));
  }

  async watchPeers(onRelease: (release: Release) => void): Promise<void> {
    const admin = await this.transport.adminClient();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: this.peersTopic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    // A group of its own per process: every server reads the whole topic from its start.
    const reader = this.kafka.consumer({ groupId: `${this.peersTopic}.reader.${process.pid}.${Date.now()}`, maxWaitTimeInMs: 200 });
    await reader.connect();
    await reader.subscribe({ topic: this.peersTopic, fromBeginning: true });
    await reader.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        const key = message.key?.toString('utf8') ?? '';
        if (message.value === null) return;
        try {
          const value = JSON.parse(message.value.toString('utf8')) as unknown;
          if (key.startsWith('server.')) this.peers.set(key.slice(7), value as PeerAddress);
          else if (key.startsWith('release.')) onRelease(value as Release);
        } catch {
          // not ours to read
        }
      },
    });
    this.peerReader = reader;
  }

  async leave(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.peerReader?.disconnect().catch(() => {});
    this.peerReader = null;
    await this.handOvers?.disconnect().catch(() => {});
    this.handOvers = null;
    await this.member?.disconnect().catch(() => {});
    this.member = null;
    await this.producer?.disconnect().catch(() => {});
    this.producer = null;
  }
}

export class KafkaTransport implements ShippingTransport {
  readonly kind = 'kafka' as const;
  readonly coordinator: Coordinator;
  private readonly kafka: InstanceType<typeof Kafka>;
  private readonly registry: SchemaRegistry;
  private admin: Admin | null = null;
  private readonly schemaIds = new Map<string, number>();
  /**
   * Per database, an offset at or before the ACTIVATION marker this server's publisher wrote:
   * truncation keeps the topic from there, so the previous active copy, when it comes back,
   * finds the point the new generation started from (and cuts a divergent tail back to it).
   */
  private readonly activationOffsets = new Map<string, number>();
  private readonly prefix: string;

  constructor(private readonly options: KafkaTransportOptions) {
    this.prefix = options.prefix ?? 'quire';
    this.kafka = new Kafka({
      brokers: [...options.brokers],
      clientId: options.clientId ?? 'quire',
      logLevel: logLevel.NOTHING,
      // Kafka answers CONCURRENT_TRANSACTIONS while the last commit's markers are written:
      // retry quickly, as the Java client does, or every transaction waits ~300 ms.
      retry: { initialRetryTime: 10, maxRetryTime: 1_000, retries: 30 },
    });
    this.registry = new SchemaRegistry({ host: options.registryUrl });
    this.coordinator = new KafkaCoordinator(this, this.kafka, options.sessionTimeoutMs ?? sessionTimeoutMsDefault);
  }

  topicOf(database: string): string {
    return `${this.prefix}.${database}`;
  }

  async adminClient(): Promise<Admin> {
    if (this.admin === null) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  async prepare(database: string): Promise<void> {
    const topic = this.topicOf(database);
    const admin = await this.adminClient();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: 1,
          configEntries: [
            { name: 'max.message.bytes', value: String(topicMessageBytesMax) },
            // The topic is the copies' safety net: it keeps everything until truncation
            // (truncate below) deletes what every copy's consumer group has committed.
            { name: 'retention.ms', value: '-1' },
            { name: 'min.insync.replicas', value: '1' },
          ],
        },
      ],
    });
    await this.schemaId(database);
  }

  private async schemaId(database: string): Promise<number> {
    let id = this.schemaIds.get(database);
    if (id === undefined) {
      ({ id } = await this.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(envelopeSchemaV1) }, { subject: `${this.topicOf(database)}-value` }));
      this.schemaIds.set(database, id);
    }
    return id;
  }

  private encoder(database: string): (envelope: BatchEnvelope) => Promise<Buffer> {
    return async (envelope) => this.registry.encode(await this.schemaId(database), { ...envelope, bytes: Buffer.from(envelope.bytes.buffer, envelope.bytes.byteOffset, envelope.bytes.length) });
  }

  async openPublisher(database: string, who: CopyName, generation: number, position: number): Promise<Publisher> {
    await this.prepare(database);
    const producer = this.kafka.producer({
      transactionalId: this.topicOf(database),
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 30_000,
    });
    await producer.connect();
    const publisher = new KafkaPublisher(generation, database, this.topicOf(database), producer, this.encoder(database));
    // The first transaction initialises the producer id: Kafka bumps the epoch, aborts whatever
    // the old active left open, and fences its producer. Then the marker goes out.
    try {
      await publisher.publish(activationEnvelope(database, generation, who.server, who.copy, position));
    } catch (error) {
      await publisher.close();
      throw error;
    }
    // The marker and its transaction's commit marker are the last two records (or earlier ones: kept too).
    // A first activation has no previous active copy to wait for; a later one (failover,
    // switchover, restart) may have one coming back.
    if (generation > 1) {
      const [partition] = await (await this.adminClient()).fetchTopicOffsets(this.topicOf(database));
      this.activationOffsets.set(database, Math.max(0, Number(partition?.high ?? 0) - 2));
    } else this.activationOffsets.delete(database);
    return publisher;
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const { database, who } = options;
    const consumer = this.kafka.consumer({
      groupId: `${this.topicOf(database)}.${who.server}.${who.copy}`,
      readUncommitted: false,
      sessionTimeout: this.options.sessionTimeoutMs ?? sessionTimeoutMsDefault,
      heartbeatInterval: 1_000,
      maxBytesPerPartition: topicMessageBytesMax,
      maxBytes: topicMessageBytesMax,
      maxWaitTimeInMs: 100,
      retry: { initialRetryTime: 50, retries: 10 },
    });
    const subscription = new KafkaSubscription(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: this.topicOf(database), fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ message }) => {
        if (message.value === null) return;
        const decoded = (await this.registry.decode(message.value)) as Omit<BatchEnvelope, 'bytes'> & { bytes: Buffer };
        const envelope: BatchEnvelope = { ...decoded, bytes: new Uint8Array(decoded.bytes.buffer, decoded.bytes.byteOffset, decoded.bytes.length) };
        try {
          if (envelope.kind === 'ACTIVATION') {
            await options.deliver(envelope);
            subscription.sawGeneration(envelope.generation);
            return;
          }
          await options.deliver(envelope);
        } catch (error) {
          options.onError(error as Error);
          // Stop here: the next start resumes from the last committed offset.
          void subscription.close();
          throw error;
        }
      },
    });
    return subscription;
  }

  /**
   * Topic truncation: deletes the records below the lowest offset committed by every copy's
   * consumer group (`<topic>.<server>.<copy>`: a copy commits a batch once it stored it, so a
   * lagged copy holds it at what it inspected). A copy's group that has committed nothing holds
   * everything; with no copy group at all nothing is deleted. A copy that never subscribed (an
   * old active coming back after a failover) is not waited for when other copies' groups exist,
   * but nothing from the current generation's ACTIVATION on is deleted, so the previous active
   * rejoins (or is cut back) from there; one whose log ends before it (two failovers while it was
   * away) stops at the gap and needs a reseed.
   */
  async truncate(database: string, active: CopyName): Promise<number | null> {
    const admin = await this.adminClient();
    const topic = this.topicOf(database);
    // The active copy's group is where it stopped reading when it was promoted: not a copy that needs the records.
    const own = `${topic}.${active.server}.${active.copy}`;
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((id) => id.startsWith(`${topic}.`) && id !== own);
    if (groups.length === 0) return null;
    let lowest = Infinity;
    for (const groupId of groups) {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const offset = Number(offsets?.partitions.find((p) => p.partition === 0)?.offset ?? -1);
      if (!(offset >= 0)) return null;
      lowest = Math.min(lowest, offset);
    }
    // Never past the current generation's ACTIVATION: the old active copy needs it to rejoin.
    lowest = Math.min(lowest, this.activationOffsets.get(database) ?? Infinity);
    const [partition] = await admin.fetchTopicOffsets(topic);
    if (lowest <= Number(partition?.low ?? 0)) return lowest;
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(lowest) }] });
    return lowest;
  }

  async close(): Promise<void> {
    await this.coordinator.leave();
    await this.admin?.disconnect().catch(() => {});
    this.admin = null;
  }
}
