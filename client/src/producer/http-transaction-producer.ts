/**
 * TransactionProducer over the gateway's HTTP API, for places that cannot reach brokers: the
 * half message is a transactional send (`"transaction": true`), the local transaction decides
 * commit or rollback (POST /v1/transactions/{id}/commit|rollback), and UNKNOWN is left to the
 * check-backs, which this producer takes with a long poll of GET /v1/transactions/checks for
 * its group once started. The same TransactionListener as the direct TransactionProducer.
 */
import { GatewayClient } from '../api/gateway-client.js';
import type { BrokerTransactionCheck } from '../api/transaction-check.js';
import { CirrusError, toCirrusError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Message } from '../message.js';
import { validateGroup } from '../validation.js';
import { messageToJsonIn, sendResultOf } from './http-producer.js';
import { answerCheck, localResolution } from './transaction-listener-calls.js';
import type { TransactionCheckView, TransactionListener, TransactionSendResult } from './transaction-producer.js';

export interface HttpTransactionProducerOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:8080. */
  gateway: string;
  producerGroup: string;
  listener: TransactionListener;
  /** A send's or an end's request timeout (10 s). */
  timeoutMs?: number;
  /** How long one check-back long poll waits (20 s, the gateway's most). */
  checkWaitSeconds?: number;
  logger?: Logger;
}

export class HttpTransactionProducer {
  readonly producerGroup: string;
  private readonly gateway: GatewayClient;
  /** The long poll parks for up to checkWaitSeconds: a client of its own, so sends never queue behind it. */
  private readonly checks: GatewayClient;
  private readonly listener: TransactionListener;
  private readonly logger: Logger;
  private readonly checkWaitSeconds: number;
  private polling: AbortController | undefined;
  /** Check-backs answered COMMIT or ROLLBACK (tests, metrics). */
  checksResolved = 0;

  constructor(options: HttpTransactionProducerOptions) {
    this.producerGroup = validateGroup(options.producerGroup);
    this.listener = options.listener;
    this.logger = options.logger ?? silentLogger;
    this.checkWaitSeconds = options.checkWaitSeconds ?? 20;
    this.gateway = new GatewayClient(options.gateway, { timeoutMs: options.timeoutMs ?? 10_000 });
    this.checks = new GatewayClient(options.gateway, { maxSockets: 1 });
  }

  /** Starts taking check-backs for the group. Sending works without it; check-backs need it. */
  start(): void {
    if (this.polling) return;
    const polling = new AbortController();
    this.polling = polling;
    void this.pollLoop(polling.signal);
  }

  /** Sends `msg` as a half message, runs the local transaction, and commits or rolls back as it answers. */
  async sendMessageInTransaction(msg: Message, arg?: unknown): Promise<TransactionSendResult> {
    const [r] = await this.gateway.sendTransactional(msg.topic, this.producerGroup, [messageToJsonIn(msg)]);
    if (!r) throw new CirrusError('INTERNAL', 'the gateway answered no send result');
    const result = sendResultOf(msg.topic, r);
    const transactionId = r.status === 'FAILED' ? undefined : r.transactionId;
    if (transactionId === undefined) throw new CirrusError('INTERNAL', 'the gateway answered a transactional send without its transactionId');
    const local = localResolution(this.listener, msg, arg, { ...result, transactionId }, this.logger);
    const resolution = typeof local === 'string' ? local : await local;
    if (resolution === 'COMMIT' || resolution === 'ROLLBACK') await this.end(transactionId, resolution);
    return { ...result, transactionId, resolution };
  }

  commit(transactionId: string): Promise<void> {
    return this.end(transactionId, 'COMMIT');
  }

  rollback(transactionId: string): Promise<void> {
    return this.end(transactionId, 'ROLLBACK');
  }

  shutdown(): void {
    this.polling?.abort();
    this.polling = undefined;
    this.gateway.close();
    this.checks.close();
  }

  private async end(transactionId: string, resolution: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    await this.gateway.endTransaction(transactionId, resolution === 'COMMIT' ? 'commit' : 'rollback');
  }

  private async pollLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const checks = await this.checks.transactionChecks(this.producerGroup, this.checkWaitSeconds, signal);
        for (const c of checks) await this.answerCheck(checkView(c));
      } catch (e) {
        if (signal.aborted) return;
        this.logger.warn('transaction producer: check-back poll failed', { err: toCirrusError(e).message });
        await new Promise((r) => setTimeout(r, 1_000).unref());
      }
    }
  }

  private async answerCheck(check: TransactionCheckView): Promise<void> {
    if (await answerCheck(this.listener, check, (resolution) => this.end(check.transactionId, resolution), this.logger)) this.checksResolved++;
  }
}

function checkView(c: BrokerTransactionCheck): TransactionCheckView {
  return {
    transactionId: c.transactionId,
    messageId: c.messageId,
    topic: c.topic,
    body: Buffer.from(c.body, 'base64'),
    tags: c.tags,
    keys: c.keys,
    properties: c.properties,
    checkTimes: c.checkTimes,
    bornTimestamp: c.bornTimestamp,
  };
}
