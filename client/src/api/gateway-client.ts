/** The gateway's v1 HTTP API from the client side: for the CLI, the HTTP producer and any script. */
import { HttpClient } from '../http/http-client.js';
import type { ClusterBrokerInfo, TopicInfo, TopicRouteData } from './types.js';

export interface MessageJsonIn {
  body: string;
  bodyEncoding?: 'utf8' | 'base64';
  tags?: string;
  keys?: string[];
  properties?: Record<string, string>;
  shardingKey?: string;
}

export type SendResultJson =
  | { status: 'SEND_OK' | 'FLUSH_DISK_TIMEOUT' | 'FLUSH_S3_TIMEOUT'; messageId: string; broker: string; queueId: number; queueOffset: number }
  | { status: 'FAILED'; error: { code: string; message: string } };

export interface MessageJsonOut {
  messageId: string;
  queueOffset: number;
  body: string;
  bodyEncoding: 'utf8' | 'base64';
  tags?: string;
  keys: string[];
  properties: Record<string, string>;
  bornTimestamp: number;
  storeTimestamp: number;
}

export interface ReadResultJson {
  messages: MessageJsonOut[];
  nextOffset: number;
  minOffset: number;
  maxOffset: number;
}

export class GatewayClient {
  private readonly http: HttpClient;

  constructor(baseUrl: string, options: { timeoutMs?: number; maxSockets?: number } = {}) {
    this.http = new HttpClient(baseUrl, options);
  }

  createTopic(topic: string, queues: number): Promise<TopicInfo> {
    return this.http.json('POST', '/v1/topics', { topic, queues });
  }

  async listTopics(): Promise<TopicInfo[]> {
    return (await this.http.json<{ topics: TopicInfo[] }>('GET', '/v1/topics')).topics;
  }

  getTopic(topic: string): Promise<TopicInfo> {
    return this.http.json('GET', `/v1/topics/${enc(topic)}`);
  }

  async deleteTopic(topic: string): Promise<void> {
    await this.http.json('DELETE', `/v1/topics/${enc(topic)}`);
  }

  getRoute(topic: string): Promise<TopicRouteData> {
    return this.http.json('GET', `/v1/topics/${enc(topic)}/route`);
  }

  async send(topic: string, messages: MessageJsonIn[]): Promise<SendResultJson[]> {
    return (await this.http.json<{ results: SendResultJson[] }>('POST', `/v1/topics/${enc(topic)}/messages`, { messages })).results;
  }

  async sendOneway(topic: string, messages: MessageJsonIn[]): Promise<void> {
    await this.http.json('POST', `/v1/topics/${enc(topic)}/messages?mode=oneway`, { messages });
  }

  read(topic: string, broker: string, queueId: number, offset: number, max: number): Promise<ReadResultJson> {
    const q = `broker=${enc(broker)}&queueId=${queueId}&offset=${offset}&max=${max}`;
    return this.http.json('GET', `/v1/topics/${enc(topic)}/messages?${q}`);
  }

  async cluster(): Promise<ClusterBrokerInfo[]> {
    return (await this.http.json<{ brokers: ClusterBrokerInfo[] }>('GET', '/v1/cluster')).brokers;
  }

  close(): void {
    this.http.close();
  }
}

const enc = encodeURIComponent;
