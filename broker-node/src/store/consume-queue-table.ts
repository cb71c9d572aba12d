/**
 * The store's ConsumeQueues, by topic and queue id (RocketMQ's consumeQueueTable), under
 * {storeDir}/consumequeue/{topic}/{queueId}/. One object per topic-queue, never per message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConsumeQueue } from './consume-queue';

export class ConsumeQueueTable {
  private readonly table = new Map<string, Map<number, ConsumeQueue>>();

  constructor(
    readonly rootDir: string,
    private readonly unitsPerFile: number,
  ) {}

  /** Opens every ConsumeQueue found on disk (recovery sets their ends next). */
  load(): void {
    if (!fs.existsSync(this.rootDir)) return;
    for (const topic of fs.readdirSync(this.rootDir)) {
      const topicDir = path.join(this.rootDir, topic);
      if (!fs.statSync(topicDir).isDirectory()) continue;
      for (const q of fs.readdirSync(topicDir)) {
        if (!/^\d+$/.test(q)) continue;
        const cq = new ConsumeQueue(topic, Number(q), this.rootDir, this.unitsPerFile);
        cq.load();
        this.tableFor(topic).set(cq.queueId, cq);
      }
    }
  }

  private tableFor(topic: string): Map<number, ConsumeQueue> {
    let m = this.table.get(topic);
    if (!m) {
      m = new Map();
      this.table.set(topic, m);
    }
    return m;
  }

  *all(): Iterable<ConsumeQueue> {
    for (const m of this.table.values()) yield* m.values();
  }

  /** The ConsumeQueue of a topic-queue, created on first use. */
  findOrCreate(topic: string, queueId: number): ConsumeQueue {
    const m = this.tableFor(topic);
    let cq = m.get(queueId);
    if (!cq) {
      cq = new ConsumeQueue(topic, queueId, this.rootDir, this.unitsPerFile);
      cq.load();
      m.set(queueId, cq);
    }
    return cq;
  }

  get(topic: string, queueId: number): ConsumeQueue | undefined {
    return this.table.get(topic)?.get(queueId);
  }
}
