/**
 * BrokerController: wires the message store, the topic configs, the HTTP server and the
 * NameServer registration, and runs the start and shutdown sequences.
 *
 *   start:    lock the store folder -> open + recover the store (restoring from the tier on an empty disk) -> listen -> register (retry until the NameServer answers) -> heartbeat
 *   shutdown: refuse sends (503) -> flush -> unregister -> close the server -> close the store
 */
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { type BrokerRegistration, type Logger, type NameServerApi, NameServerClient } from '@cirrusmq/client/protocol';
import { FolderLock } from '@cirrusmq/client/server';
import { BrokerOuterAPI } from './broker-outer-api';
import { brokerAddr, type BrokerConfig } from './config';
import { createPopService } from './consumer/create-pop-service';
import type { PopService } from './consumer/pop-service';
import type { PopStateKeeper } from './consumer/pop-state-keeper';
import { createBrokerServer } from './server/broker-server';
import { DefaultMessageStore } from './store/message-store';
import type { DeleteTopicResult } from './store/message-store-types';
import { createTieredStorage } from './tier/create-tiered-storage';
import { TieredStorage } from './tier/tiered-storage';
import { SubscriptionGroupManager } from './subscription-group-manager';
import { TopicConfigManager } from './topic-config-manager';
import { TimerMessageStore } from './timer/timer-message-store';
import { holdRetentionForTimers } from './timer/timer-put';
import { ProducerGroupSync } from './transaction/producer-group-sync';
import { TransactionalMessageService } from './transaction/transactional-message-service';

export interface BrokerControllerDeps {
  /** Defaults to a NameServerClient on config.namesrvAddr. */
  nameServer?: Pick<NameServerApi, 'registerBroker' | 'unregisterBroker' | 'getTopic' | 'ensureGroup'> &
    Partial<Pick<NameServerApi, 'createTopic' | 'getCluster'>>;
  logger: Logger;
}

/** Requests in flight get this long to finish at shutdown before their connections are cut. */
const DRAIN_TIMEOUT_MS = 5_000;
/** How often a broker asks its peers for producer groups it missed (also once at start). */
const PRODUCER_GROUP_SYNC_MS = 60_000;

export class BrokerController {
  readonly store: DefaultMessageStore;
  readonly topicConfigManager: TopicConfigManager;
  readonly subscriptionGroupManager: SubscriptionGroupManager;
  /** The consume core; made once the store is open. */
  popService: PopService | undefined;
  private popStateKeeper: PopStateKeeper | undefined;
  private readonly nameServer: NonNullable<BrokerControllerDeps['nameServer']>;
  private readonly ownsNameServer: NameServerClient | undefined;
  private readonly logger: Logger;
  private server: http.Server | undefined;
  private outerAPI: BrokerOuterAPI | undefined;
  private acceptingWrites = false;
  private startedAt = 0;
  private shuttingDown: Promise<void> | undefined;
  /** The store's open (recovery, restore from the tier): a shutdown waits for it before closing the store. */
  private opening: Promise<unknown> | undefined;
  /** The store folder's lock (client/src/folder-lock.ts): taken before the store reads a byte, freed after it closes. */
  private storeLock: FolderLock | undefined;
  /** The port actually bound (config.brokerPort, or the one picked for port 0). */
  port = 0;
  /** Scheduled messages: recovered once the store is open, before the server listens. */
  readonly timerStore: TimerMessageStore;
  /** Half messages: the table of pending transactions, rebuilt once the store is open, before the server listens. */
  readonly transactions: TransactionalMessageService;
  /** Producer groups' check URLs taken from peers (producer-group-sync.ts); started once registered. */
  private groupSync: ProducerGroupSync | undefined;

  constructor(
    readonly config: BrokerConfig,
    deps: BrokerControllerDeps,
  ) {
    this.logger = deps.logger;
    if (deps.nameServer) {
      this.nameServer = deps.nameServer;
    } else {
      this.ownsNameServer = new NameServerClient(config.namesrvAddr);
      this.nameServer = this.ownsNameServer;
    }
    this.store = new DefaultMessageStore(
      {
        storeDir: config.storeDir,
        commitLogSegmentBytes: config.commitLogSegmentBytes,
        consumeQueueUnitsPerFile: config.consumeQueueUnitsPerFile,
        flushIntervalMs: config.flushIntervalMs,
        flushDiskType: config.flushDiskType,
        syncFlushTimeoutMs: config.syncFlushTimeoutMs,
        preallocateSegments: config.commitLogPreallocate,
        fileReservedTimeMs: config.fileReservedTimeMs,
        diskBudgetBytes: config.diskBudgetBytes,
        cleanIntervalMs: config.cleanIntervalMs,
        indexHashSlotNum: config.indexHashSlotNum,
        indexNum: config.indexNum,
      },
      this.logger.child({ component: 'store' }),
      createTieredStorage(config, this.logger),
    );
    this.topicConfigManager = new TopicConfigManager(config.brokerName, this.nameServer, Date.now, this.store);
    this.timerStore = new TimerMessageStore(
      this.store,
      { storeDir: config.storeDir, precisionMs: config.timerPrecisionMs, wheelSpanMs: config.timerWheelSpanMs, maxDelayMs: config.timerMaxDelayMs },
      this.logger.child({ component: 'timer' }),
    );
    holdRetentionForTimers(this.store.cleanCommitLogService, this.timerStore);
    if (this.store.tier instanceof TieredStorage) this.store.tier.holdRetention(() => this.timerStore.retentionHold());
    this.transactions = new TransactionalMessageService(
      this.store,
      {
        brokerName: config.brokerName,
        checkFirstMs: config.transactionCheckFirstMs,
        checkIntervalMs: config.transactionCheckIntervalMs,
        checkMax: config.transactionCheckMax,
        checkUrlTimeoutMs: config.transactionCheckUrlTimeoutMs,
        checkUrlPrefixes: config.transactionCheckUrlPrefixes,
      },
      this.logger.child({ component: 'transaction' }),
    );
    // A pending half message's record outlives retention, locally and in the tier (like a pending timer's).
    holdRetentionForTimers(this.store.cleanCommitLogService, this.transactions);
    if (this.store.tier instanceof TieredStorage) this.store.tier.holdRetention(() => this.transactions.retentionHold());
    this.subscriptionGroupManager = new SubscriptionGroupManager(this.nameServer);
  }

  get brokerAddr(): string {
    return brokerAddr(this.config, this.port);
  }

  /** Resolves once the broker serves and is registered with the NameServer. */
  async start(): Promise<void> {
    this.startedAt = Date.now();
    this.opening = this.lockAndOpenStore();
    await this.opening;
    // Shut down while the store was opening (a restore from the tier can take a while).
    if (this.shuttingDown) return;
    this.acceptingWrites = true;
    const pop = await createPopService({
      brokerName: this.config.brokerName,
      storeDir: this.config.storeDir,
      store: this.store,
      topicConfigManager: this.topicConfigManager,
      groups: this.subscriptionGroupManager,
      nameServer: this.nameServer,
      logger: this.logger.child({ component: 'pop' }),
      tierObjects: this.store.tier instanceof TieredStorage ? this.store.tier.objectStore : undefined,
      holdTierRetention: this.store.tier instanceof TieredStorage ? (hold) => (this.store.tier as TieredStorage).holdRetention(hold) : undefined,
      tierDurableEnd: tierDurableEnd(this.store.tier, this.config.durability),
      snapshotIntervalMs: this.config.popSnapshotIntervalMs,
      receiptKey: this.config.receiptKey,
    });
    this.popService = pop.popService;
    this.popStateKeeper = pop.keeper;
    await this.timerStore.recover();
    this.timerStore.start();
    await this.transactions.recover();
    this.transactions.start();
    const server = createBrokerServer({
      brokerName: this.config.brokerName,
      store: this.store,
      topicConfigManager: this.topicConfigManager,
      subscriptionGroupManager: this.subscriptionGroupManager,
      popService: this.popService,
      logger: this.logger,
      acceptingWrites: () => this.acceptingWrites,
      deleteTopic: (topic, createdAt) => this.deleteTopic(topic, createdAt),
      timerStore: this.timerStore,
      transactions: this.transactions,
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.brokerPort, this.config.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.logger.info('broker listening', { brokerName: this.config.brokerName, host: this.config.listenHost, port: this.port, brokerAddr: this.brokerAddr });

    this.outerAPI = new BrokerOuterAPI(
      this.nameServer,
      () => this.registration(),
      (result) => this.topicConfigManager.updateFromRegistration(result),
      { heartbeatIntervalMs: this.config.heartbeatIntervalMs },
      this.logger.child({ component: 'registration' }),
    );
    try {
      await this.outerAPI.start();
    } catch (e) {
      // Aborted by a shutdown during the retries: not a start failure.
      if (this.shuttingDown) return;
      throw e;
    }
    void this.topicConfigManager.checkIncarnations(this.store.localTopics());
    const getCluster = this.nameServer.getCluster?.bind(this.nameServer);
    if (getCluster && !this.shuttingDown) {
      this.groupSync = new ProducerGroupSync({
        brokerName: this.config.brokerName,
        getCluster,
        adoptGroups: (records) => this.transactions.adoptGroups(records),
        logger: this.logger.child({ component: 'producer-group-sync' }),
        intervalMs: PRODUCER_GROUP_SYNC_MS,
      });
      this.groupSync.start();
      // The first round now: a broker that missed a group's PUT should call its URL from its first check.
      this.groupSync.wakeup();
    }
  }

  /**
   * Construction touches no file, so the lock comes first: a second broker on this folder
   * fails here with STORE_LOCKED, before recovery or a restore could change a byte of it.
   */
  private async lockAndOpenStore(): Promise<void> {
    this.storeLock = await FolderLock.acquire(this.config.storeDir, { owner: `broker ${this.config.brokerName}` });
    if (this.shuttingDown) return;
    await this.store.open();
  }

  /** RocketMQ's deleteTopicInBroker: the store drops the topic's queues; its config is learned again on next use. */
  async deleteTopic(topic: string, createdAt: number | undefined): Promise<DeleteTopicResult> {
    // The store's tombstone and the config's removal happen in one turn: no send slips between.
    const deleting = this.store.deleteTopic(topic, createdAt);
    this.topicConfigManager.forgetTopic(topic);
    this.popService?.forgetTopic(topic);
    return deleting;
  }

  private registration(): BrokerRegistration {
    return {
      clusterName: this.config.clusterName,
      brokerName: this.config.brokerName,
      brokerId: this.config.brokerId,
      brokerAddr: this.brokerAddr,
      startedAt: this.startedAt,
      heartbeatTimeoutMs: this.config.heartbeatTimeoutMs,
    };
  }

  shutdown(): Promise<void> {
    this.shuttingDown ??= this.doShutdown();
    return this.shuttingDown;
  }

  private async doShutdown(): Promise<void> {
    this.logger.info('broker shutting down');
    this.acceptingWrites = false;
    // Parked receives answer what they have now, so the server can close.
    this.popService?.shutdown();
    if (this.store.isOpen()) this.store.flush();
    await this.outerAPI?.shutdown();
    await this.groupSync?.shutdown();
    await this.closeServer();
    await this.opening?.catch(() => {});
    if (this.store.isOpen()) await this.popStateKeeper?.close();
    if (this.store.isOpen()) await this.timerStore.close();
    await this.transactions.close();
    await this.store.shutdown();
    await this.storeLock?.release();
    this.ownsNameServer?.close();
    this.logger.info('broker stopped');
  }

  private async closeServer(): Promise<void> {
    const server = this.server;
    if (!server?.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }
}

/** How far a restore from the tier brings the CommitLog back: every synced append with durability s3 (the write-ahead log), the tiered segments otherwise. */
function tierDurableEnd(tier: unknown, durability: BrokerConfig['durability']): (() => number) | undefined {
  if (!(tier instanceof TieredStorage)) return undefined;
  return durability === 's3' ? () => Number.POSITIVE_INFINITY : () => tier.tieredLog.getMaxOffset();
}
