/**
 * Dead letters: a message delivered retryMaxTimes + 1 times without an ack is appended, as a
 * copy, to its group's topic %DLQ%{group} on this broker (queue 0), with properties naming
 * where it came from, so it can be read like any topic and redriven. The copy keeps the
 * message id (UNIQ_KEY): a redrive is the same message again, as RocketMQ keeps it.
 */
import { deadLetterBatch, decodeRecords, decodeSendBatch, dlqTopicOf, type Logger } from '@cirrusmq/client/protocol';
import type { MessageStore } from '../store/message-store-types';

export interface DeadLetterRequest {
  group: string;
  topic: string;
  queueId: number;
  queueOffset: number;
  deliveryAttempts: number;
}

export class DeadLetterService {
  private readonly ensured = new Set<string>();

  /**
   * @param ensureTopic makes %DLQ%{group} known to the NameServer on this broker so it reads
   *   like any topic; failures are logged and retried on the next dead letter (the copy is
   *   stored either way).
   */
  constructor(
    private readonly store: Pick<MessageStore, 'getMessage' | 'putMessages'>,
    private readonly logger: Logger,
    private readonly ensureTopic?: (topic: string) => Promise<void>,
  ) {}

  /** Appends the copy; false when the original is gone (retention): nothing to dead-letter. */
  async send(r: DeadLetterRequest): Promise<boolean> {
    const got = await this.store.getMessage(r.topic, r.queueId, r.queueOffset, 1);
    const m = got.count > 0 ? decodeRecords(got.records)[0] : undefined;
    if (!m || m.queueOffset !== r.queueOffset) return false;
    const dlq = dlqTopicOf(r.group);
    await this.store.putMessages(decodeSendBatch(deadLetterBatch(r.group, m, r.deliveryAttempts), 1));
    if (this.ensureTopic && !this.ensured.has(dlq)) {
      this.ensureTopic(dlq).then(
        () => this.ensured.add(dlq),
        (err: unknown) => this.logger.warn('dead letter topic not registered with the NameServer', { topic: dlq, err: String(err) }),
      );
    }
    return true;
  }
}
