/**
 * Deleted topics (RocketMQ's DefaultMessageStore.deleteTopics, made crash-safe): per topic,
 *
 *   deletedBelow  a CommitLog offset: the topic's records below it are deleted. The log keeps
 *                 their bytes until retention, so every path that turns log records into
 *                 queue or index entries (the reput after a crash, a ConsumeQueue rebuild, a
 *                 restore from the tier, lookups by key or id) asks isDeleted() first.
 *   createdAt     the NameServer's incarnation of the topic the local queues belong to, and
 *   deleted       whether that incarnation was deleted here (its sends and reads answer
 *                 TOPIC_NOT_FOUND). A broker that was down during a delete learns a newer
 *                 createdAt when the topic comes back, and drops its older queues then.
 *
 * {storeDir}/topic-tombstones.json, rewritten whole (temp file, fsync, rename, directory
 * fsync) on each change: changes are rare (a delete, a topic's first use here), and a
 * delete is acknowledged only once its tombstone is durable. Entries are never needed for
 * records retention removed, so prune() drops tombstones below the log's first offset.
 * A disk can be lost while the tier keeps its records: the tier keeps a copy of this table
 * too (tier/tier-tombstones.ts, told by onChange), and a restore merges it back first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CirrusError } from '@cirrusmq/client/protocol';
import { writeFileDurably } from './durable-file';

export const TOMBSTONE_FILE = 'topic-tombstones.json';
const VERSION = 1;

export interface TopicTombstone {
  deletedBelow?: number;
  createdAt?: number;
  deleted?: boolean;
}

/** What the broker does with a topic incarnation the NameServer names (ensureIncarnation). */
export type IncarnationVerdict =
  /** Serve it: the local queues belong to it (or were dropped just now as older). */
  | 'current'
  /** Deleted here: answer TOPIC_NOT_FOUND. */
  | 'deleted'
  /** Older than the one the local queues belong to: stale information, not served. */
  | 'stale';

export class TopicTombstones {
  readonly fileName: string;
  private topics: Map<string, TopicTombstone> | undefined;
  private listener: (() => void) | undefined;

  constructor(storeDir: string) {
    this.fileName = path.join(storeDir, TOMBSTONE_FILE);
  }

  /** Read on first use: the tier's restore asks before the store loads. */
  private table(): Map<string, TopicTombstone> {
    this.topics ??= readTombstoneFile(this.fileName);
    return this.topics;
  }

  /** Whether the record of `topic` at `commitLogOffset` belongs to a deleted incarnation. */
  isDeleted(topic: string, commitLogOffset: number): boolean {
    const t = this.table();
    if (t.size === 0) return false;
    const below = t.get(topic)?.deletedBelow;
    return below !== undefined && commitLogOffset < below;
  }

  get(topic: string): TopicTombstone | undefined {
    return this.table().get(topic);
  }

  hasAny(): boolean {
    return this.table().size > 0;
  }

  /** Records a delete at `deletedBelow` (the log's end when it happened): durable on return. */
  markDeleted(topic: string, deletedBelow: number, createdAt: number | undefined): void {
    const prev = this.table().get(topic);
    this.table().set(topic, {
      deletedBelow: Math.max(deletedBelow, prev?.deletedBelow ?? 0),
      createdAt: createdAt ?? prev?.createdAt,
      deleted: true,
    });
    this.persist();
  }

  /** The local queues belong to incarnation `createdAt` from now on (durable on return). */
  setIncarnation(topic: string, createdAt: number, deletedBelow?: number): void {
    const prev = this.table().get(topic);
    this.table().set(topic, { deletedBelow: Math.max(deletedBelow ?? 0, prev?.deletedBelow ?? 0) || undefined, createdAt, deleted: false });
    this.persist();
  }

  /** `listener` runs after each durable change (the tier copies the table then). */
  onChange(listener: () => void): void {
    this.listener = listener;
  }

  /** The table as the file holds it: deterministic bytes, so equal tables compare equal. */
  snapshot(): Buffer {
    return Buffer.from(encodeTombstones(this.table()));
  }

  /**
   * Merges a copy kept elsewhere (the tier's, on a restore) into the table, durable on
   * return. Per topic the later incarnation wins, a delete of the same one stays a delete,
   * and deletedBelow is the higher: neither side can bring back what the other deleted.
   */
  mergeFrom(other: Map<string, TopicTombstone>): void {
    let changed = false;
    for (const [topic, theirs] of other) {
      const ours = this.table().get(topic);
      const merged = mergeTombstone(ours, theirs);
      if (JSON.stringify(merged) !== JSON.stringify(ours)) {
        this.table().set(topic, merged);
        changed = true;
      }
    }
    if (changed) this.persist();
  }

  /** Drops tombstones that cover nothing any more (retention removed every record below them). */
  prune(minOffset: number): void {
    let changed = false;
    for (const [topic, t] of this.table()) {
      if (t.deletedBelow !== undefined && t.deletedBelow <= minOffset) {
        if (t.createdAt === undefined) this.table().delete(topic);
        else this.table().set(topic, { createdAt: t.createdAt, deleted: t.deleted });
        changed = true;
      }
    }
    if (changed) this.persist();
  }

  /**
   * After a restore the log ends at `logEnd`, maybe below a tombstone written when the lost
   * log was longer: every record below `logEnd` stays deleted, while the offsets from there
   * on are given to new records, which no delete has covered.
   */
  capDeletedBelow(logEnd: number): void {
    let changed = false;
    for (const [topic, t] of this.table()) {
      if (t.deletedBelow !== undefined && t.deletedBelow > logEnd) {
        this.table().set(topic, { ...t, deletedBelow: logEnd || undefined });
        changed = true;
      }
    }
    if (changed) this.persist();
  }

  private persist(): void {
    writeFileDurably(this.fileName, encodeTombstones(this.table()));
    this.listener?.();
  }
}

function encodeTombstones(table: Map<string, TopicTombstone>): string {
  return JSON.stringify({ version: VERSION, topics: Object.fromEntries(table) });
}

function mergeTombstone(ours: TopicTombstone | undefined, theirs: TopicTombstone): TopicTombstone {
  if (!ours) return { ...theirs };
  const deletedBelow = Math.max(ours.deletedBelow ?? 0, theirs.deletedBelow ?? 0) || undefined;
  const a = ours.createdAt ?? -1;
  const b = theirs.createdAt ?? -1;
  const createdAt = a >= b ? ours.createdAt : theirs.createdAt;
  const deleted = a === b ? Boolean(ours.deleted || theirs.deleted) : a > b ? ours.deleted : theirs.deleted;
  const out: TopicTombstone = {};
  if (deletedBelow !== undefined) out.deletedBelow = deletedBelow;
  if (createdAt !== undefined) out.createdAt = createdAt;
  if (deleted !== undefined) out.deleted = deleted;
  return out;
}

export function readTombstoneFile(fileName: string): Map<string, TopicTombstone> {
  let text: string;
  try {
    text = fs.readFileSync(fileName, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw e;
  }
  return parseTombstones(text, fileName);
}

/** The table from its file's bytes (or the tier's copy of them); `source` names it in errors. */
export function parseTombstones(text: string, source: string): Map<string, TopicTombstone> {
  // A file written by rename after fsync is whole or absent: one that does not parse is
  // damage, and serving on without it could bring deleted messages back.
  let parsed: { version?: unknown; topics?: Record<string, TopicTombstone> };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (e) {
    throw new CirrusError('INTERNAL', `${source} is not valid JSON: refusing to start without the deleted topics`, { cause: e });
  }
  if (parsed.version !== VERSION || typeof parsed.topics !== 'object' || parsed.topics === null) {
    throw new CirrusError('INTERNAL', `${source} has an unknown format (version ${String(parsed.version)})`);
  }
  return new Map(Object.entries(parsed.topics));
}
