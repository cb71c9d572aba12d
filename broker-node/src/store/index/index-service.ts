/**
 * IndexService (RocketMQ's): the key index over the CommitLog, in IndexFiles under
 * {storeDir}/index/. A CommitLogDispatcher, so the dispatcher builds it from the CommitLog
 * and recovery rebuilds it by replaying the log from maxPhysicalOffset().
 *
 * Keys indexed per record:
 *   - each of its KEYS as  "{topic}#{key}"   (lookup by key is per topic)
 *   - its UNIQ_KEY as      "#{messageId}"    (lookup by id has no topic; topic names cannot
 *                                             be empty or hold "#", so no "topic#key" string
 *                                             equals an "#id" one; one entry per id, not two)
 * Entries carry only a hash of the key: every hit is confirmed against the record's actual
 * KEYS or UNIQ_KEY (query-message-service.ts), which also drops entries that point past the
 * log after a torn tail was truncated.
 *
 *   files:  [00000000000000000000][00000000000052428800][00000000000104857600]  <- active
 *           sealed: read with fs reads                   slots in memory, appended to
 */
import fs from 'node:fs';
import path from 'node:path';
import { javaHashCode, KEY_SEPARATOR, type Logger } from '@cirrusmq/client/protocol';
import { PeriodicService } from '../../periodic-service';
import type { CommitLogDispatcher, DispatchRequest } from '../dispatcher';
import { RecordDispatchRequest } from '../dispatch-request';
import { fileNameToOffset } from '../mapped-file';
import { STORE_DEFAULTS } from '../store-defaults';
import { IndexFile, continueJavaHash, indexKeyHash } from './index-file';

export interface IndexServiceConfig {
  /** Slots per file (its table is kept in memory while the file is written: x 4 bytes). */
  hashSlotNum: number;
  /** Entries per file; a new file starts when one is full. */
  indexNum: number;
  /** How often the file being written persists its slot table and header. */
  persistIntervalMs: number;
}

export const DEFAULT_INDEX_CONFIG: IndexServiceConfig = {
  hashSlotNum: STORE_DEFAULTS.indexHashSlotNum,
  indexNum: STORE_DEFAULTS.indexNum,
  persistIntervalMs: 1_000,
};

/** The index key of a message key in a topic. */
export function buildKey(topic: string, key: string): string {
  return `${topic}#${key}`;
}

/** The index key of a message id (UNIQ_KEY): topic-less, see above. */
export function buildIdKey(messageId: string): string {
  return `#${messageId}`;
}

const ID_PREFIX_HASH = javaHashCode('#');

/** Java hash of "{topic}#": the prefix of every key index key of the topic. */
function topicKeyPrefixHash(topic: string): number {
  return continueJavaHash(continueJavaHash(0, topic), '#');
}

/**
 * The index entries' key hashes (indexKeyHash values) of a record read from its bytes: each
 * of its KEYS under `topicPrefixHash`, then its UNIQ_KEY. Dispatch and the tier's index
 * extract (tier/index-extract.ts) both use it, so a restored entry is the one dispatch makes.
 */
export function recordIndexHashes(req: RecordDispatchRequest, topicPrefixHash: number, out: number[]): void {
  out.length = 0;
  if (req.hasKeys()) req.keyHashes(topicPrefixHash, out);
  const id = req.uniqKeyHash(ID_PREFIX_HASH);
  if (id !== undefined) out.push(id);
  for (let i = 0; i < out.length; i++) out[i] = indexKeyHash(out[i]!);
}
/** Entries staged before a write (40 KiB): one syscall per ~2,000 keys instead of one per send batch. */
const STAGED_ENTRIES = 2048;

export class IndexService implements CommitLogDispatcher {
  readonly storePath: string;
  /** Oldest first; the last one is the one written to. */
  private readonly files: IndexFile[] = [];
  /** CommitLog offset past the last record dispatched here (in memory). */
  private indexedPhysicalOffset = 0;
  /** The same, as far as it is on disk: what a replay after a crash must start from. */
  private persistedPhysicalOffset = 0;
  private persistChain: Promise<void> = Promise.resolve();
  /** Files with a persist queued or in flight: not deleted under it. */
  private readonly persisting = new Set<IndexFile>();
  /** Persists the file being written every persistIntervalMs (persist failures are logged by queuePersist). */
  private readonly persistService: PeriodicService;
  /** The key hashes of the record being dispatched (reused). */
  private readonly hashes: number[] = [];
  private prefixTopic: string | undefined;
  private prefixHash = 0;

  constructor(
    storeDir: string,
    private readonly config: IndexServiceConfig,
    private readonly logger: Logger,
  ) {
    this.storePath = path.join(storeDir, 'index');
    this.persistService = new PeriodicService('IndexPersistService', config.persistIntervalMs, () => this.persistAsync(), logger);
  }

  /**
   * Opens the index files. Files that start at or past `commitLogMaxOffset` hold only
   * entries of a log tail that recovery cut off: deleted. A file whose header does not
   * match its size is deleted with every later one (the replay rebuilds them).
   */
  load(commitLogMaxOffset: number): void {
    fs.mkdirSync(this.storePath, { recursive: true });
    const names = fs
      .readdirSync(this.storePath)
      .map((name) => ({ name, offset: fileNameToOffset(name) }))
      .filter((f): f is { name: string; offset: number } => f.offset !== undefined)
      .sort((a, b) => a.offset - b.offset);
    let broken = false;
    for (const { name, offset } of names) {
      const fileName = path.join(this.storePath, name);
      const file = broken || offset >= commitLogMaxOffset ? undefined : IndexFile.open(fileName);
      if (!file) {
        if (!broken && offset < commitLogMaxOffset) this.logger.warn('index: unreadable index file, rebuilding from it on', { file: name });
        broken = broken || offset < commitLogMaxOffset;
        fs.rmSync(fileName, { force: true });
        continue;
      }
      this.files.push(file);
    }
    const last = this.files.at(-1);
    if (last) {
      last.activate();
      // Entries past the log stay (confirmation drops them), but the progress must not pass
      // the log, or records written again at those offsets would be taken as indexed.
      this.indexedPhysicalOffset = Math.min(last.header.endPhyOffset, commitLogMaxOffset);
    }
    this.persistedPhysicalOffset = this.indexedPhysicalOffset;
  }

  /**
   * Loads again with a shorter log: recovery cut a torn tail below what the index had
   * indexed, so its files and progress must not reach past the new end.
   */
  reopen(commitLogMaxOffset: number): void {
    for (const f of this.files) f.close();
    this.files.length = 0;
    this.indexedPhysicalOffset = 0;
    this.persistedPhysicalOffset = 0;
    this.load(commitLogMaxOffset);
  }

  /** The CommitLog offset up to which the index is complete on disk: replay from here after a crash. */
  maxPhysicalOffset(): number {
    return this.persistedPhysicalOffset;
  }

  /** Starts the persist timer. */
  start(): void {
    this.persistService.start();
  }

  dispatch(req: DispatchRequest): void {
    // A replay over records indexed already (recovery starts from the oldest progress).
    if (req.commitLogOffset < this.indexedPhysicalOffset) return;
    // The hashes of buildKey(topic, key) and buildIdKey(id), without building the strings
    // (from the record's bytes when the dispatcher gives them: dispatch-request.ts).
    const hashes = this.hashes;
    hashes.length = 0;
    if (req instanceof RecordDispatchRequest) {
      recordIndexHashes(req, this.topicPrefixHash(req.topic), hashes);
    } else {
      if (req.keys) {
        const prefix = this.topicPrefixHash(req.topic);
        for (const k of req.keys.split(KEY_SEPARATOR)) if (k.length > 0) hashes.push(indexKeyHash(continueJavaHash(prefix, k)));
      }
      if (req.uniqKey) hashes.push(indexKeyHash(continueJavaHash(ID_PREFIX_HASH, req.uniqKey)));
    }
    const end = req.commitLogOffset + req.size;
    try {
      // The first file is made even for a record without keys: its header keeps the progress,
      // so a restart does not replay the whole log of keyless messages.
      if (hashes.length > 0 || this.files.length === 0) this.putKeys(hashes, req.commitLogOffset, req.storeTimestamp);
    } catch (e) {
      // The index is rebuildable; a failure here must not fail the send that was stored.
      this.logger.error('index: failed to index a record', { err: e, commitLogOffset: req.commitLogOffset });
    }
    this.indexedPhysicalOffset = end;
    this.files.at(-1)?.advance(end);
  }

  /** Java hash of "{topic}#", for the last topic asked (dispatches come in runs of one topic). */
  private topicPrefixHash(topic: string): number {
    if (topic !== this.prefixTopic) {
      this.prefixTopic = topic;
      this.prefixHash = topicKeyPrefixHash(topic);
    }
    return this.prefixHash;
  }

  /**
   * A tier restore (tier/tier-restore.ts) re-inserts the entries of tiered records, in log
   * order, before the store loads: `hashes` are one record's indexKeyHash values, as
   * recordIndexHashes made them when its segment was uploaded.
   */
  restoreRecord(hashes: number[], commitLogOffset: number, storeTimestamp: number): void {
    if (commitLogOffset < this.indexedPhysicalOffset) return;
    // Everything before this record is indexed: a file sealed by the roll below keeps that as its end.
    this.advanceTo(commitLogOffset);
    if (hashes.length > 0) this.putKeys(hashes, commitLogOffset, storeTimestamp);
  }

  /** The log below `offset` is indexed (a restored segment's end). */
  advanceTo(offset: number): void {
    if (offset < this.indexedPhysicalOffset) return;
    this.indexedPhysicalOffset = offset;
    this.files.at(-1)?.advance(offset);
  }

  private putKeys(hashes: number[], commitLogOffset: number, storeTimestamp: number): void {
    // A record's keys go to one file, so a file's [begin, end) offsets describe all it holds.
    if (hashes.length > this.config.indexNum - 1) {
      this.logger.warn('index: a record has more keys than an index file holds; extra keys not indexed', { keys: hashes.length });
      hashes.length = this.config.indexNum - 1;
    }
    let file = this.files.at(-1);
    if (!file?.hasRoomFor(hashes.length, storeTimestamp)) file = this.roll(commitLogOffset, storeTimestamp);
    for (const hash of hashes) file.putKey(hash, commitLogOffset, storeTimestamp);
  }

  /** Seals the file being written (its last persist is queued) and starts a new one. */
  private roll(beginPhyOffset: number, beginTimestamp: number): IndexFile {
    const old = this.files.at(-1);
    if (old) {
      old.seal();
      this.queuePersist(old);
    }
    const file = IndexFile.create(
      this.storePath,
      beginPhyOffset,
      beginTimestamp,
      this.config.hashSlotNum,
      this.config.indexNum,
      Math.min(this.persistedPhysicalOffset, beginPhyOffset),
    );
    this.files.push(file);
    return file;
  }

  /** The end of a dispatch run: staged entries go to the file once there are enough for one good-sized write. */
  flush(): void {
    this.files.at(-1)?.writeStaged(STAGED_ENTRIES);
  }

  /** Persists every file with unwritten changes (the one being written, a sealed one pending), off the event loop. */
  persistAsync(): Promise<void> {
    for (const f of this.files) if (!this.persisting.has(f) && f.needsPersist()) this.queuePersist(f);
    return this.persistChain;
  }

  /**
   * Persists run one after another, in queue order: a later snapshot of a file must not land
   * before an earlier one, and a sealed file's last snapshot lands before its successor's.
   * So when a snapshot is written, everything indexed before its endPhyOffset is on disk.
   */
  private queuePersist(file: IndexFile): void {
    this.persisting.add(file);
    this.persistChain = this.persistChain.then(async () => {
      const snap = file.takeSnapshot();
      try {
        await file.writeSnapshot(snap);
        this.persistedPhysicalOffset = Math.max(this.persistedPhysicalOffset, snap.endPhyOffset);
      } catch (e) {
        file.markAllDirty();
        this.logger.error('index: persist failed, retried at the next one', { file: path.basename(file.fileName), err: e });
      } finally {
        this.persisting.delete(file);
      }
    });
  }

  /** CommitLog offsets of records whose index key hashes as `key`'s, newest first, deduplicated; `begin`/`end` in ms. */
  *candidates(key: string, begin: number, end: number): Generator<number> {
    const hash = indexKeyHash(javaHashCode(key));
    const seen = new Set<number>();
    for (let i = this.files.length - 1; i >= 0; i--) {
      for (const phy of this.files[i]!.selectPhyOffsets(hash, begin, end)) {
        if (seen.has(phy)) continue;
        seen.add(phy);
        yield phy;
      }
    }
  }

  /**
   * Retention: deletes the files whose records all lie below the CommitLog's new minimum,
   * oldest first, never the one being written. Returns how many.
   */
  deleteExpiredFiles(commitLogMinOffset: number): number {
    let n = 0;
    for (;;) {
      const f = this.files[0];
      if (this.files.length <= 1 || !f || f.header.endPhyOffset > commitLogMinOffset || f.needsPersist() || this.persisting.has(f)) break;
      this.files.shift();
      f.destroy();
      n++;
    }
    return n;
  }

  fileCount(): number {
    return this.files.length;
  }

  /** Stops the timer, waits for persists in flight, writes the rest and closes the files. */
  async shutdown(): Promise<void> {
    await this.persistService.shutdown();
    await this.persistAsync();
    await this.persistChain;
    for (const f of this.files) {
      if (f.needsPersist()) {
        const snap = f.takeSnapshot();
        f.writeSnapshotSync(snap);
      }
      f.close();
    }
    this.persistedPhysicalOffset = this.indexedPhysicalOffset;
    this.files.length = 0;
  }
}
