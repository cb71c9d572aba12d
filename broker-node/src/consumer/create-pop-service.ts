/** Builds the broker's consume core once its store is open (the receipt key and the snapshot live in the store folder) and recovers its state. */
import type { Logger, NameServerApi } from '@cirrusmq/client/protocol';
import type { DefaultMessageStore } from '../store/message-store';
import type { TopicConfigManager } from '../topic-config-manager';
import { DeadLetterService } from './dead-letter';
import { CommitLogPopJournal } from './pop-journal';
import { type GroupConfigSource, PopService } from './pop-service';
import { type SnapshotObjects, TierPopSnapshotCopy } from './pop-snapshot-tier';
import { PopStateKeeper } from './pop-state-keeper';
import { ReceiptHandleCodec } from './receipt-handle';
import { loadReceiptKeyWithTier } from './receipt-key';

export async function createPopService(opts: {
  brokerName: string;
  storeDir: string;
  store: DefaultMessageStore;
  topicConfigManager: TopicConfigManager;
  groups: GroupConfigSource;
  nameServer: Partial<Pick<NameServerApi, 'createTopic'>>;
  logger: Logger;
  snapshotIntervalMs?: number;
  /** The tier's object store: the receipt key and the snapshots get copies there. */
  tierObjects?: SnapshotObjects;
  /** The tier's overall retention, held below the journal still needed (TieredStorage.holdRetention). */
  holdTierRetention?: (hold: () => number) => void;
  /** The CommitLog offset below which the tier holds every byte (tiered segments; durability s3: every synced append). */
  tierDurableEnd?: () => number;
  /** A key (>= 16 bytes) the deployment sets: used instead of the stored one (CIRRUSMQ_RECEIPT_KEY). */
  receiptKey?: Buffer;
}): Promise<{ popService: PopService; keeper: PopStateKeeper }> {
  // Retention keeps the journal after the newest durable snapshot (pop-state-keeper.ts), locally and in the tier; all of it until
  // recovered. Held before the first await: the key's fetch from the tier may outlast a retention interval.
  let keeper: PopStateKeeper | undefined;
  const hold = () => keeper?.retentionHold() ?? 0;
  const clean = opts.store.cleanCommitLogService;
  const canDelete = clean.canDelete;
  clean.canDelete = (f) => canDelete(f) && f.fileFromOffset + f.fileSize <= hold();
  opts.holdTierRetention?.(hold);
  const { nameServer } = opts;
  // %DLQ%{group} gets one queue on every live master (the NameServer's createTopic); each broker writes its own dead letters to its queue 0.
  const ensureTopic = nameServer.createTopic ? async (topic: string) => void (await nameServer.createTopic!({ topic, queues: 1 })) : undefined;
  const popService = new PopService({
    brokerName: opts.brokerName,
    store: opts.store,
    topicConfigManager: opts.topicConfigManager,
    groups: opts.groups,
    codec: new ReceiptHandleCodec(
      opts.receiptKey ??
        (await loadReceiptKeyWithTier(opts.storeDir, opts.tierObjects, (err) => opts.logger.warn('receipt key: no copy in the tier', { err: String(err) }))),
      opts.brokerName,
    ),
    deadLetter: new DeadLetterService(opts.store, opts.logger, ensureTopic),
    logger: opts.logger,
  });
  const store = opts.store;
  const tier = opts.tierObjects ? new TierPopSnapshotCopy(opts.tierObjects, opts.logger, opts.tierDurableEnd) : undefined;
  keeper = new PopStateKeeper(
    opts.storeDir,
    popService,
    new CommitLogPopJournal(store, opts.logger),
    opts.logger,
    opts.snapshotIntervalMs,
    () => store.commitLog.getMaxOffset(),
    tier,
  );
  await keeper.recover();
  opts.store.setMessageArrivingListener(popService.onMessageArriving);
  return { popService, keeper };
}
