/**
 * A broker's consume side for tests: a real store in a temp folder, the HTTP server with the
 * PopService, a FakeNameServer for topics, in-memory group configs, and a BrokerClient.
 */
import type { AddressInfo } from 'node:net';
import { BrokerClient, decodeSendBatch, GroupDefaults, silentLogger, type SubscriptionGroupConfig } from '@cirrusmq/client/protocol';
import { DeadLetterService } from '../consumer/dead-letter';
import { PopService } from '../consumer/pop-service';
import { ReceiptHandleCodec } from '../consumer/receipt-handle';
import { loadOrCreateReceiptKey } from '../consumer/receipt-key';
import { type BrokerHttpServer, createBrokerServer } from '../server/broker-server';
import { DefaultMessageStore } from '../store/message-store';
import { TopicConfigManager } from '../topic-config-manager';
import { FakeNameServer } from './fake-nameserver';
import { removeDir, sendBody, type TestMessage, tempDir } from './fixtures';

/** Groups as the NameServer keeps them: created on first use with the defaults, or put by a test. */
export class InMemoryGroups {
  readonly configs = new Map<string, SubscriptionGroupConfig>();

  constructor(private readonly now: () => number = Date.now) {}

  put(group: string, c: Partial<SubscriptionGroupConfig> = {}): SubscriptionGroupConfig {
    const config: SubscriptionGroupConfig = {
      group,
      retryMaxTimes: GroupDefaults.RETRY_MAX_TIMES,
      orderly: GroupDefaults.ORDERLY,
      consumeFrom: 'earliest',
      createdAt: this.now(),
      ...c,
    };
    this.configs.set(group, config);
    return config;
  }

  async getOrCreate(group: string): Promise<SubscriptionGroupConfig> {
    // Tests send first and receive after: a group made on first use starts at the earliest (put one to test 'latest').
    return this.configs.get(group) ?? this.put(group);
  }
}

export class PopFixture {
  readonly dir = tempDir('cirrusmq-pop-');
  readonly store = new DefaultMessageStore(
    { storeDir: this.dir, commitLogSegmentBytes: 1 << 20, consumeQueueUnitsPerFile: 1000, flushIntervalMs: 100 },
    silentLogger,
  ).load();
  readonly nameServer = new FakeNameServer();
  readonly groups = new InMemoryGroups();
  readonly popService: PopService;
  readonly server: BrokerHttpServer;
  client!: BrokerClient;

  constructor() {
    // One for both, as BrokerController has it: the server and the consume core see the same topic configs.
    const topicConfigManager = new TopicConfigManager('broker-a', this.nameServer);
    this.popService = new PopService({
      brokerName: 'broker-a',
      store: this.store,
      topicConfigManager,
      groups: this.groups,
      codec: new ReceiptHandleCodec(loadOrCreateReceiptKey(this.dir), 'broker-a'),
      deadLetter: new DeadLetterService(this.store, silentLogger),
      logger: silentLogger,
    });
    this.store.setMessageArrivingListener(this.popService.onMessageArriving);
    this.server = createBrokerServer({
      brokerName: 'broker-a',
      store: this.store,
      topicConfigManager,
      popService: this.popService,
      logger: silentLogger,
      acceptingWrites: () => true,
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.client = new BrokerClient(`127.0.0.1:${(this.server.address() as AddressInfo).port}`);
    return this;
  }

  /** Stores messages in one queue; returns the first queue offset. */
  async send(topic: string, queueId: number, messages: (TestMessage | string)[]): Promise<number> {
    const put = await this.store.putMessages(decodeSendBatch(sendBody(topic, queueId, messages), 10_000));
    return put.queueOffset;
  }

  async close(): Promise<void> {
    this.popService.shutdown();
    this.client.close();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
    await this.store.shutdown();
    removeDir(this.dir);
  }
}
