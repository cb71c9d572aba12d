/**
 * The clients this proxy knows, by their x-mq-client-id: what each said in its Telemetry
 * settings (producer topics, consumer group and subscriptions) and its Telemetry stream, so
 * a later push (orphaned-transaction checks, issue 14) has somewhere to go. This is the
 * proxy's only state: a client that reconnects to another proxy re-sends its settings there.
 * RocketMQ's proxy keeps the same (ClientActivity, GrpcClientSettingsManager).
 */
import type * as grpc from '@grpc/grpc-js';

export type ClientKind = 'PRODUCER' | 'PUSH_CONSUMER' | 'SIMPLE_CONSUMER' | 'PULL_CONSUMER' | 'LITE_PUSH_CONSUMER' | 'LITE_SIMPLE_CONSUMER' | 'OTHER';

export interface ClientSession {
  clientId: string;
  kind: ClientKind;
  /** The settings the client sent (proto-loader object), as last received. */
  settings: any;
  /** Consumers: their group. */
  group?: string;
  /** Producers: the topics they publish to. */
  topics: string[];
  stream?: grpc.ServerDuplexStream<any, any>;
  lastSeenAt: number;
  /** The settings command last answered on the stream, and when: resent after a route query (resendSettingsAfterRoute). */
  answer?: object;
  answeredAt?: number;
}

export class ClientSessions {
  private readonly sessions = new Map<string, ClientSession>();

  constructor(private readonly now: () => number = Date.now) {}

  get(clientId: string): ClientSession | undefined {
    return this.sessions.get(clientId);
  }

  /** Records (or replaces) what the client's settings say; keeps its stream. */
  upsert(clientId: string, fields: Omit<ClientSession, 'clientId' | 'lastSeenAt' | 'stream'>, stream?: grpc.ServerDuplexStream<any, any>): ClientSession {
    const old = this.sessions.get(clientId);
    const session: ClientSession = { ...fields, clientId, lastSeenAt: this.now(), stream: stream ?? old?.stream };
    this.sessions.set(clientId, session);
    return session;
  }

  /** A heartbeat or any call from the client. */
  touch(clientId: string): void {
    const s = this.sessions.get(clientId);
    if (s) s.lastSeenAt = this.now();
  }

  /** The client's stream ended: forget the stream, but only if it is still the one recorded. */
  detachStream(clientId: string, stream: grpc.ServerDuplexStream<any, any>): void {
    const s = this.sessions.get(clientId);
    if (s?.stream === stream) this.sessions.delete(clientId);
  }

  /** The settings answer written on the client's stream (kept to write it again). */
  answered(clientId: string, answer: object): void {
    const s = this.sessions.get(clientId);
    if (!s) return;
    s.answer = answer;
    s.answeredAt = this.now();
  }

  /** NotifyClientTermination. */
  remove(clientId: string): void {
    this.sessions.delete(clientId);
  }

  get size(): number {
    return this.sessions.size;
  }
}
