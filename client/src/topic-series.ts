/**
 * Messages and bytes per topic for a metric's topic label, bounded: each topic is a Prometheus
 * series to store forever, so a process flooded with topics must not flood the monitoring.
 * Topics first counted after MAX_TOPIC_SERIES are counted together under OTHER_TOPICS. A Map
 * bumped once per batch (a labelled prom-client inc costs ~5x this); the counters read it at a
 * scrape. Shared by the broker's put counters and the gateway's sent counters.
 */
export const MAX_TOPIC_SERIES = 1000;
export const OTHER_TOPICS = '_other';

export interface TopicCounts {
  messages: number;
  bytes: number;
}

export class TopicSeries implements Iterable<[string, TopicCounts]> {
  private readonly byTopic = new Map<string, TopicCounts>();

  /** The counts to bump for `topic`: its own, or OTHER_TOPICS' once MAX_TOPIC_SERIES topics have their own. */
  counts(topic: string): TopicCounts {
    let t = this.byTopic.get(topic);
    if (t === undefined) {
      const key = this.byTopic.size < MAX_TOPIC_SERIES ? topic : OTHER_TOPICS;
      t = this.byTopic.get(key);
      if (t === undefined) {
        t = { messages: 0, bytes: 0 };
        this.byTopic.set(key, t);
      }
    }
    return t;
  }

  [Symbol.iterator](): Iterator<[string, TopicCounts]> {
    return this.byTopic.entries();
  }
}
