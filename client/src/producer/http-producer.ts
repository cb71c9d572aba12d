/**
 * The producer in gateway mode: the same send / sendAsync / sendOneway / sendBatch as the
 * direct Producer, over the gateway's HTTP API, for places that cannot reach brokers
 * (a Lambda outside the VPC, a laptop). The gateway does the routing and retrying.
 */
import { GatewayClient, type MessageJsonIn, type SendResultJson } from '../api/gateway-client.js';
import { CirrusError, isErrorCode, toCirrusError } from '../errors.js';
import type { Message, SendResult } from '../message.js';

export class HttpProducer {
  private readonly gateway: GatewayClient;

  constructor(gatewayUrl: string, options: { timeoutMs?: number } = {}) {
    this.gateway = new GatewayClient(gatewayUrl, { timeoutMs: options.timeoutMs ?? 10_000 });
  }

  async send(msg: Message): Promise<SendResult> {
    return (await this.sendBatch([msg]))[0]!;
  }

  sendAsync(msg: Message, callback: (err: CirrusError | null, result?: SendResult) => void): void {
    this.send(msg).then(
      (r) => callback(null, r),
      (e) => callback(toCirrusError(e)),
    );
  }

  sendOneway(msg: Message): void {
    this.gateway.sendOneway(msg.topic, [messageToJsonIn(msg)]).catch(() => {});
  }

  /** One request for the whole batch; throws the first failure if any message failed. */
  async sendBatch(messages: readonly Message[]): Promise<SendResult[]> {
    const topic = messages[0]?.topic;
    if (topic === undefined) throw new CirrusError('EMPTY_BATCH', 'no messages to send');
    if (messages.some((m) => m.topic !== topic)) throw new CirrusError('INVALID_MESSAGE', 'a batch holds messages of one topic only');
    const results = await this.gateway.send(topic, messages.map(messageToJsonIn));
    return results.map((r) => sendResultOf(topic, r));
  }

  shutdown(): void {
    this.gateway.close();
  }
}

/** A send result as the gateway answered it; a failed one thrown as its CirrusError. */
export function sendResultOf(topic: string, r: SendResultJson): SendResult {
  if (r.status === 'FAILED') throw new CirrusError(isErrorCode(r.error.code) ? r.error.code : 'INTERNAL', r.error.message);
  return { status: r.status, messageId: r.messageId, messageQueue: { topic, brokerName: r.broker, queueId: r.queueId }, queueOffset: r.queueOffset };
}

/** A message as the gateway's send route takes it (a binary body as base64). */
export function messageToJsonIn(m: Message): MessageJsonIn {
  const text = typeof m.body === 'string';
  return {
    body: typeof m.body === 'string' ? m.body : Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength).toString('base64'),
    bodyEncoding: text ? 'utf8' : 'base64',
    tags: m.tags,
    keys: m.keys,
    properties: m.properties,
    shardingKey: m.shardingKey,
  };
}
