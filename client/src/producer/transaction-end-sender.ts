/**
 * Sends a producer's commits and rollbacks to one broker: at once when none is in flight, else
 * merged with the others that wait into one request (POST /v1/transaction/end {"ends": [...]},
 * answered with its failures only) when the one in flight comes back, as RocketMQ 5's autoBatch
 * does for sends. An idle producer adds no latency; a busy one sends a request per round trip
 * instead of one per transaction.
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

  constructor(private readonly broker: BrokerClient) {}

  end(messageId: string, resolution: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ messageId, resolution, resolve, reject });
      if (!this.inFlight) void this.drain();
    });
  }

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
