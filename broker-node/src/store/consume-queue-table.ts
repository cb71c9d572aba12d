/**
 * The store's ConsumeQueues, by topic and queue id (RocketMQ's consumeQueueTable), under
 * {storeDir}/consumequeue/{topic}/{queueId}/. One object per topic-queue, never per message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConsumeQueue } from './consume-queue';
import { syncDirectory } from './mapped-file';

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

  topics(): string[] {
    return [...this.table.keys()];
  }

  queuesOf(topic: string): ConsumeQueue[] {
    return [...(this.table.get(topic)?.values() ?? [])];
  }

  /**
   * A topic delete: its queues leave the table and their folder moves into `trashDir` at
   * once (a rename, made durable), so a queue of the same name created next starts empty in
   * a fresh folder while flushes in flight on the old files finish. The caller closes the
   * returned queues and removes the moved folder.
   */
  detachTopic(topic: string, trashDir: string): { queues: ConsumeQueue[]; movedTo: string | undefined } {
    const queues = this.queuesOf(topic);
    this.table.delete(topic);
    const dir = path.join(this.rootDir, topic);
    if (!fs.existsSync(dir)) return { queues, movedTo: undefined };
    fs.mkdirSync(trashDir, { recursive: true });
    let movedTo = path.join(trashDir, topic);
    for (let n = 1; fs.existsSync(movedTo); n++) movedTo = path.join(trashDir, `${topic}.${n}`);
    fs.renameSync(dir, movedTo);
    syncDirectory(this.rootDir);
    syncDirectory(trashDir);
    return { queues, movedTo };
  }

  /** Recovery: removes one queue (its files and folder) that a delete left behind. */
  destroy(cq: ConsumeQueue): void {
    cq.destroy();
    this.table.get(cq.topic)?.delete(cq.queueId);
    if (this.table.get(cq.topic)?.size === 0) {
      this.table.delete(cq.topic);
      fs.rmSync(path.join(this.rootDir, cq.topic), { recursive: true, force: true });
    }
  }
}
