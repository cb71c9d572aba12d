/**
 * bench:grpc's lean gRPC client: apache.rocketmq.v2.MessagingService on a raw @grpc/grpc-js
 * client, the service loaded from rocketmq-client-nodejs's .proto files by @grpc/proto-loader
 * with the proxy's own options (grpc-proxy/src/proto.ts), making the RPCs the official client
 * makes (SendMessage, QueryRoute, ReceiveMessage, AckMessage) and nothing else: no
 * google-protobuf objects, no per-call signing, retries or logging. What it costs is grpc-js,
 * protobufjs and the wire, so its rows show what the endpoint itself carries, apart from the
 * official client's own per-message cost.
 */
import os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { messagingServiceClient } from '../../grpc-proxy/src/proto';

type RawClient = grpc.Client & Record<string, any>;

export interface LeanSendEntry {
  status: { code: string; message: string };
  message_id: string;
}

export interface LeanReceived {
  messageId: string;
  receiptHandle: string;
}

const CALL_TIMEOUT_MS = 30_000;

export class LeanClient {
  private readonly raw: RawClient;
  /** One metadata object for every call: the proxy reads only x-mq-client-id, and grpc-js copies it per call. */
  private readonly metadata = new grpc.Metadata();
  /** The official client's message id shape ("01" + 32 hex digits): the proxy keeps a client's id. */
  private readonly idPrefix: string;
  private seq = 0;

  constructor(endpoint: string) {
    const Client = messagingServiceClient();
    this.raw = new Client(endpoint, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 16 * 1024 * 1024 }) as RawClient;
    const clientId = `${os.hostname()}@${process.pid}@lean`;
    this.metadata.set('x-mq-client-id', clientId);
    this.metadata.set('x-mq-language', 'NODE_JS');
    this.metadata.set('x-mq-protocol', 'v2');
    this.idPrefix = `01${(process.pid & 0xffff).toString(16).padStart(4, '0')}${Date.now().toString(16).padStart(16, '0').slice(-16)}`.toUpperCase();
  }

  /** One SendMessage of `bodies` to `topic`, tagged `tag`: the per-entry results. */
  async send(topic: string, bodies: readonly Buffer[], tag: string): Promise<LeanSendEntry[]> {
    const born = bornTimestamp();
    const messages = bodies.map((body) => ({
      topic: { name: topic, resource_namespace: '' },
      body,
      user_properties: {},
      system_properties: {
        tag,
        message_id: this.nextId(),
        born_timestamp: born,
        born_host: 'lean',
        body_encoding: 'IDENTITY',
        message_type: 'NORMAL',
      },
    }));
    const res = await this.unary('SendMessage', { messages });
    return res.entries as LeanSendEntry[];
  }

  /** The brokers that serve a readable queue of the topic (QueryRoute). */
  async brokers(topic: string): Promise<string[]> {
    const res = await this.unary('QueryRoute', { topic: { name: topic, resource_namespace: '' } });
    if (res.status.code !== 'OK') throw new Error(`QueryRoute ${topic}: ${res.status.code} ${res.status.message}`);
    const names = new Set<string>();
    for (const q of res.message_queues) if (q.permission === 'READ' || q.permission === 'READ_WRITE') names.add(q.broker.name);
    return [...names];
  }

  /** One ReceiveMessage (a server stream: status, messages, delivery timestamp) from `broker`. */
  receive(topic: string, group: string, broker: string, batch: number, invisibleMs: number, waitMs: number): Promise<LeanReceived[]> {
    return new Promise((resolve, reject) => {
      const out: LeanReceived[] = [];
      let failure: string | undefined;
      const stream = this.raw.ReceiveMessage(
        {
          group: { name: group, resource_namespace: '' },
          message_queue: { topic: { name: topic, resource_namespace: '' }, id: 0, broker: { name: broker } },
          filter_expression: { type: 'TAG', expression: '*' },
          batch_size: batch,
          invisible_duration: duration(invisibleMs),
          auto_renew: false,
          long_polling_timeout: duration(waitMs),
        },
        this.metadata,
        { deadline: Date.now() + waitMs + CALL_TIMEOUT_MS },
      );
      stream.on('data', (d: any) => {
        if (d.content === 'message') out.push({ messageId: d.message.system_properties.message_id, receiptHandle: d.message.system_properties.receipt_handle });
        else if (d.content === 'status' && d.status.code !== 'OK' && d.status.code !== 'MESSAGE_NOT_FOUND') failure = `${d.status.code} ${d.status.message}`;
      });
      stream.on('end', () => (failure ? reject(new Error(`ReceiveMessage: ${failure}`)) : resolve(out)));
      stream.on('error', reject);
    });
  }

  /** One AckMessage of all `messages`: how many the proxy acked. */
  async ack(topic: string, group: string, messages: readonly LeanReceived[]): Promise<{ acked: number; failures: string[] }> {
    const res = await this.unary('AckMessage', {
      group: { name: group, resource_namespace: '' },
      topic: { name: topic, resource_namespace: '' },
      entries: messages.map((m) => ({ message_id: m.messageId, receipt_handle: m.receiptHandle })),
    });
    let acked = 0;
    const failures: string[] = [];
    for (const e of res.entries) {
      if (e.status.code === 'OK') acked++;
      else failures.push(`${e.status.code} ${e.status.message}`);
    }
    return { acked, failures };
  }

  close(): void {
    this.raw.close();
  }

  private nextId(): string {
    this.seq = (this.seq + 1) >>> 0;
    return this.idPrefix + this.seq.toString(16).toUpperCase().padStart(8, '0');
  }

  private unary(method: string, request: object): Promise<any> {
    return new Promise((resolve, reject) => {
      this.raw[method](request, this.metadata, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err: grpc.ServiceError | null, res: any) =>
        err ? reject(err) : resolve(res),
      );
    });
  }
}

function duration(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

function bornTimestamp(): { seconds: number; nanos: number } {
  const now = Date.now();
  return { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1_000_000 };
}
