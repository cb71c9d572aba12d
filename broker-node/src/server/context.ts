/** What the server's processors need from the broker. */
import type { Logger } from '@cirrusmq/client/protocol';
import type { PopService } from '../consumer/pop-service';
import type { DeleteTopicResult, MessageStore } from '../store/message-store-types';
import type { SubscriptionGroupManager } from '../subscription-group-manager';
import type { TopicConfigManager } from '../topic-config-manager';
import type { TimerMessageStore } from '../timer/timer-message-store';
import type { TransactionalMessageService } from '../transaction/transactional-message-service';

export interface BrokerServerContext {
  brokerName: string;
  store: MessageStore;
  topicConfigManager: Pick<TopicConfigManager, 'checkWritable' | 'checkReadable' | 'getTopicConfig'>;
  /** Consumer group config (created on first use); absent in servers that do not consume (other processors' unit tests). */
  subscriptionGroupManager?: Pick<SubscriptionGroupManager, 'getOrCreate'>;
  /** The consume core (POP, ack, offsets); absent in servers that do not consume: the consume routes answer 503. */
  popService?: PopService;
  logger: Logger;
  /** False once shutdown began: sends answer 503 so producers go to another broker. */
  acceptingWrites(): boolean;
  /** The admin delete of a topic's queues (BrokerController.deleteTopic); absent in servers that do not offer it. */
  deleteTopic?(topic: string, createdAt: number | undefined): Promise<DeleteTopicResult>;
  /** Scheduled messages (timer/): absent, a send's schedule properties are stored as plain properties. */
  timerStore?: TimerMessageStore;
  /** Transactional (half) messages (transaction/): absent, TRAN_MSG is stored as a plain property and the transaction routes answer 503. */
  transactions?: TransactionalMessageService;
}
