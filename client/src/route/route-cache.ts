/**
 * The producer's topic route cache (RocketMQ's topicPublishInfoTable). An entry is served for
 * `ttlMs` (30 s, RocketMQ's poll interval); after that the next use refreshes it in the
 * background and keeps serving the old route meanwhile, so the send path never waits on the
 * NameServer once warm. A failed send calls `refresh` at once. Concurrent lookups of one
 * topic share one NameServer call.
 */
import { CirrusError } from '../errors.js';
import type { NameServerApi } from '../api/nameserver-client.js';
import { TopicPublishInfo } from './topic-publish-info.js';

interface Entry {
  info: TopicPublishInfo;
  fetchedAt: number;
}

export interface RouteCacheOptions {
  ttlMs?: number;
  /** A failure-driven refresh happens at most this often per topic. */
  minRefreshIntervalMs?: number;
  notFoundTtlMs?: number;
  now?: () => number;
}

export class RouteCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<TopicPublishInfo>>();
  private readonly notFoundUntil = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly notFoundTtlMs: number;
  private readonly minRefreshIntervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly nameServer: NameServerApi,
    options: RouteCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.minRefreshIntervalMs = options.minRefreshIntervalMs ?? 100;
    this.notFoundTtlMs = options.notFoundTtlMs ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  /** The topic's publish info; throws TOPIC_NOT_FOUND, or NAMESERVER_UNAVAILABLE with no cached route. */
  async get(topic: string): Promise<TopicPublishInfo> {
    const entry = this.entries.get(topic);
    if (entry) {
      if (this.now() - entry.fetchedAt >= this.ttlMs) this.refreshInBackground(topic);
      return entry.info;
    }
    const until = this.notFoundUntil.get(topic);
    if (until !== undefined) {
      if (this.now() < until) throw new CirrusError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
      this.notFoundUntil.delete(topic);
    }
    return this.fetch(topic);
  }

  /** After a failed send: fetch again now, unless that was just done. */
  refresh(topic: string): Promise<TopicPublishInfo> {
    const entry = this.entries.get(topic);
    if (entry && this.now() - entry.fetchedAt < this.minRefreshIntervalMs) return Promise.resolve(entry.info);
    return this.fetch(topic);
  }

  /** Forgets what is known of the topic, found or not (after it was created or deleted here). */
  invalidate(topic: string): void {
    this.entries.delete(topic);
    this.notFoundUntil.delete(topic);
  }

  private refreshInBackground(topic: string): void {
    this.fetch(topic).catch(() => {
      // Keep serving the cached route: a NameServer outage must not stop producers.
    });
  }

  private fetch(topic: string): Promise<TopicPublishInfo> {
    let p = this.inflight.get(topic);
    if (p) return p;
    p = this.load(topic).finally(() => this.inflight.delete(topic));
    this.inflight.set(topic, p);
    return p;
  }

  private async load(topic: string): Promise<TopicPublishInfo> {
    try {
      const route = await this.nameServer.getRouteInfoByTopic(topic);
      const info = new TopicPublishInfo(route);
      this.entries.set(topic, { info, fetchedAt: this.now() });
      return info;
    } catch (e) {
      if (e instanceof CirrusError && e.code === 'TOPIC_NOT_FOUND') {
        this.entries.delete(topic);
        // Bounded: one entry per distinct wrong name seen within the TTL.
        if (this.notFoundUntil.size > 10_000) this.notFoundUntil.clear();
        this.notFoundUntil.set(topic, this.now() + this.notFoundTtlMs);
      }
      const stale = this.entries.get(topic);
      if (stale && e instanceof CirrusError && e.retriable) return stale.info;
      throw e;
    }
  }
}
