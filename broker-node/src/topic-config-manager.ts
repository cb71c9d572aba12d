/**
 * The topics this broker serves (RocketMQ's TopicConfigManager). The NameServer holds the
 * durable config; the broker learns it from each registration answer (heartbeat) and, for
 * a topic created since, asks getTopic on demand: concurrent lookups of one topic share one
 * call, and a miss is remembered for a second so a stream of bad sends does not hammer the
 * NameServer.
 *
 * Incarnations: a topic deleted and created again under its name is a new topic (the
 * NameServer's createdAt tells them apart). With a store (`incarnations`), the broker serves a
 * topic only once it has checked, with a getTopic, that its local queues belong to the
 * NameServer's current incarnation; the store drops older queues then (a broker that was down
 * during the delete), and answers TOPIC_NOT_FOUND for an incarnation deleted here.
 */
import { CirrusError, type NameServerApi, type RegisterBrokerResult, type TopicConfig, type TopicInfo } from '@cirrusmq/client/protocol';
import type { IncarnationVerdict } from './store/topic-tombstones';

/** The store's side of incarnations (DefaultMessageStore). */
export interface TopicIncarnations {
  ensureTopicIncarnation(topic: string, createdAt: number): IncarnationVerdict;
}

export const MISS_TTL_MS = 1_000;

export class TopicConfigManager {
  private readonly topicConfigTable = new Map<string, TopicConfig>();
  private readonly inflight = new Map<string, Promise<TopicConfig | undefined>>();
  /** topic -> time (ms) until which "not found" is answered without asking. */
  private readonly misses = new Map<string, number>();
  /** Topics whose incarnation this process checked against the store (only with `incarnations`). */
  private readonly checked = new Set<string>();

  constructor(
    private readonly brokerName: string,
    private readonly nameServer: Pick<NameServerApi, 'getTopic'>,
    private readonly now: () => number = Date.now,
    private readonly incarnations?: TopicIncarnations,
  ) {}

  /** Replaces the table with the topics of a registration answer (deleted topics drop out). */
  updateFromRegistration(result: RegisterBrokerResult): void {
    this.topicConfigTable.clear();
    for (const t of result.topics) this.topicConfigTable.set(t.topic, t);
    // A topic that left this broker may come back as a new incarnation: check it again then.
    for (const topic of this.checked) if (!this.topicConfigTable.has(topic)) this.checked.delete(topic);
    this.misses.clear();
  }

  /** After the topic was deleted here: its config is forgotten and checked again on next use. */
  forgetTopic(topic: string): void {
    this.topicConfigTable.delete(topic);
    this.checked.delete(topic);
    this.misses.delete(topic);
  }

  selectTopicConfig(topic: string): TopicConfig | undefined {
    return this.topicConfigTable.get(topic);
  }

  /** The topic's config on this broker, loading it from the NameServer if unknown. */
  async getTopicConfig(topic: string): Promise<TopicConfig> {
    const known = this.topicConfigTable.get(topic);
    if (known && (!this.incarnations || this.checked.has(topic))) return known;
    const missUntil = this.misses.get(topic);
    if (missUntil !== undefined && missUntil > this.now()) throw notFound(topic, this.brokerName);
    let lookup = this.inflight.get(topic);
    if (!lookup) {
      lookup = this.load(topic).finally(() => this.inflight.delete(topic));
      this.inflight.set(topic, lookup);
    }
    const config = await lookup;
    if (!config) throw notFound(topic, this.brokerName);
    return config;
  }

  private async load(topic: string): Promise<TopicConfig | undefined> {
    let info: TopicInfo;
    try {
      info = await this.nameServer.getTopic(topic);
    } catch (e) {
      if (e instanceof CirrusError && e.code === 'TOPIC_NOT_FOUND') return this.miss(topic);
      throw e; // NameServer down: retriable, not remembered
    }
    // Before "is it on this broker": local queues of an older incarnation are dropped even
    // while the topic, created again, is not (yet) on this broker.
    const verdict = this.incarnations?.ensureTopicIncarnation(topic, info.createdAt) ?? 'current';
    const q = info.brokers.find((b) => b.brokerName === this.brokerName);
    if (!q || verdict !== 'current') return this.miss(topic);
    if (this.incarnations) this.checked.add(topic);
    const config: TopicConfig = { topic, readQueueNums: q.readQueueNums, writeQueueNums: q.writeQueueNums, perm: q.perm, order: false };
    this.topicConfigTable.set(topic, config);
    this.misses.delete(topic);
    return config;
  }

  private miss(topic: string): undefined {
    this.misses.set(topic, this.now() + MISS_TTL_MS);
    return undefined;
  }

  /**
   * At start: checks the incarnation of every topic with local queues (one getTopic each, in
   * turn), so lookups by id, which name no topic, do not find records of a topic deleted and
   * created again while this broker was down. Failures are left to the check on first use.
   */
  async checkIncarnations(topics: readonly string[]): Promise<void> {
    if (!this.incarnations) return;
    for (const topic of topics) {
      await this.getTopicConfig(topic).catch(() => undefined);
      // No one asked: a topic added to this broker a moment later must not answer "not found".
      this.misses.delete(topic);
    }
  }

  /** For a send: the topic exists here and queueId < writeQueueNums. */
  async checkWritable(topic: string, queueId: number): Promise<TopicConfig> {
    const config = await this.getTopicConfig(topic);
    if (!Number.isInteger(queueId) || queueId < 0 || queueId >= config.writeQueueNums) {
      throw new CirrusError(
        'INVALID_QUEUE',
        `queueId ${queueId} is not a write queue of ${topic} on ${this.brokerName} (writeQueueNums ${config.writeQueueNums})`,
      );
    }
    return config;
  }

  /** For a read: the topic exists here and queueId < readQueueNums. */
  async checkReadable(topic: string, queueId: number): Promise<TopicConfig> {
    const config = await this.getTopicConfig(topic);
    if (!Number.isInteger(queueId) || queueId < 0 || queueId >= config.readQueueNums) {
      throw new CirrusError(
        'QUEUE_NOT_FOUND',
        `queueId ${queueId} is not a read queue of ${topic} on ${this.brokerName} (readQueueNums ${config.readQueueNums})`,
      );
    }
    return config;
  }
}

function notFound(topic: string, brokerName: string): CirrusError {
  return new CirrusError('TOPIC_NOT_FOUND', `topic ${topic} does not exist on broker ${brokerName}`);
}
