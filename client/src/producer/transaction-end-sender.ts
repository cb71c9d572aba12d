/**
 * Sends a producer's commits and rollbacks to one broker: the ends of one event-loop turn in one
 * request (POST /v1/transaction/end {"ends": [...]}, answered with its failures only), and while
 * one is in flight the others wait and go together when it comes back, as RocketMQ 5's autoBatch
 * does for sends. With or without the producer's autoBatch: concurrent senders answered in one
 * turn commit together (one request, one broker flush), and a lone commit waits only for the end
 * of its turn (RocketMQ's own clients send an end per transaction).
 */
import type { BrokerClient } from '../api/broker-client.js';
import { CirrusError, type ErrorDetails, isErrorCode, toCirrusError } from '../errors.js';

type ErrorBody = { code: string; message: string; details?: ErrorDetails };

interface Waiting {
  messageId: string;
  resolution: 'COMMIT' | 'ROLLBACK';
  resolve: () => void;
  reject: (e: CirrusError) => void;
}

const MAX_ENDS = 1000;

export class TransactionEndSender {
  private waiting: Waiting[] = [];
  private inFlight = false;
  private scheduled = false;

  constructor(private readonly broker: BrokerClient) {}

  end(messageId: string, resolution: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ messageId, resolution, resolve, reject });
      if (!this.inFlight && !this.scheduled) {
        this.scheduled = true;
        // After this turn's microtasks: the ends of senders answered together have all arrived.
        process.nextTick(this.drainNow);
      }
    });
  }

  private readonly drainNow = (): void => {
    this.scheduled = false;
    if (!this.inFlight) void this.drain();
  };

  private async drain(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, MAX_ENDS);
        await this.send(batch);
      }
    } finally {
      this.inFlight = false;
    }
  }

  private async send(batch: Waiting[]): Promise<void> {
    try {
      if (batch.length === 1) {
        const { messageId, resolution } = batch[0]!;
        await this.broker.endTransaction(messageId, resolution);
        batch[0]!.resolve();
        return;
      }
      const { failures, results } = await this.broker.endTransactions(batch.map(({ messageId, resolution }) => ({ messageId, resolution })));
      const errors: (ErrorBody | undefined)[] = results ? results.map((r) => r?.error) : new Array(batch.length);
      for (const f of failures ?? []) errors[f.index] = f.error;
      batch.forEach((w, i) => {
        const e = errors[i];
        if (!e) w.resolve();
        else w.reject(new CirrusError(isErrorCode(e.code) ? e.code : 'INTERNAL', e.message, { details: e.details }));
      });
    } catch (e) {
      const err = toCirrusError(e);
      for (const w of batch) w.reject(err);
    }
  }
}
