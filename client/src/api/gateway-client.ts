/** The gateway's v1 HTTP API from the client side: for the CLI, the HTTP producer and any script. */
import { messageViewFromJson, type MessageView } from '../consumer/message-view.js';
import { errorFromBody } from '../errors.js';
import { HttpClient, parseJson } from '../http/http-client.js';
import type { AckResponse, ChangeInvisibilityResponse, ConsumeFrom, ConsumerQueueProgress, PutGroupRequest, SubscriptionGroupConfig } from './consume-types.js';
import { decodePopPartsAnswer, POP_PARTS_TYPE } from './pop-parts.js';
import type { BrokerTransactionCheck } from './transaction-check.js';
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

/** POST /v1/topics/{topic}/groups/{group}/receive: seconds, as the HTTP API counts them. */
export interface ReceiveRequestJson {
  max: number;
  invisibleSeconds?: number;
  waitSeconds?: number;
  filter?: string;
}

/** A leased message as the gateway answers it. */
export interface ReceivedMessageJson extends MessageJsonOut {
  receiptHandle: string;
  deliveryAttempt: number;
  broker: string;
  queueId: number;
}

/** GET /v1/topics/{topic}/groups/{group}: the group's progress on every broker of the topic. */
export interface GroupProgressJson {
  topic: string;
  group: string;
  queues: (ConsumerQueueProgress & { broker: string })[];
  totals: { maxOffset: number; committedOffset: number; inFlight: number; lag: number };
  /** Redeliveries since each broker started. */
  retried: number;
  /** Messages sent to %DLQ%{group} since each broker started. */
  deadLettered: number;
  /** Brokers that did not answer (left out); absent when all answered. */
  unreachableBrokers?: string[];
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

  /** Half messages of `producerGroup` (invisible until committed); each stored one is answered with its transactionId. */
  async sendTransactional(topic: string, producerGroup: string, messages: MessageJsonIn[]): Promise<(SendResultJson & { transactionId?: string })[]> {
    return (
      await this.http.json<{ results: (SendResultJson & { transactionId?: string })[] }>('POST', `/v1/topics/${enc(topic)}/messages`, {
        transaction: true,
        producerGroup,
        messages,
      })
    ).results;
  }

  /** Commits or rolls back a transaction; TRANSACTION_NOT_FOUND (404), TRANSACTION_ALREADY_ENDED (409). */
  endTransaction(transactionId: string, action: 'commit' | 'rollback'): Promise<unknown> {
    return this.http.json('POST', `/v1/transactions/${enc(transactionId)}/${action}`);
  }

  /** A long poll for the group's transactions due for a check-back (empty after waitSeconds); the brokers' checks, passed on. */
  async transactionChecks(producerGroup: string, waitSeconds: number, signal?: AbortSignal): Promise<BrokerTransactionCheck[]> {
    const res = await this.http.request({
      method: 'GET',
      path: `/v1/transactions/checks?producerGroup=${enc(producerGroup)}&waitSeconds=${waitSeconds}`,
      timeoutMs: waitSeconds * 1000 + RECEIVE_TIMEOUT_MARGIN_MS,
      signal,
    });
    if (res.status !== 200) throw errorFromBody(res.status, parseJson(res.body));
    return (parseJson(res.body) as { checks: BrokerTransactionCheck[] }).checks;
  }

  async sendOneway(topic: string, messages: MessageJsonIn[]): Promise<void> {
    await this.http.json('POST', `/v1/topics/${enc(topic)}/messages?mode=oneway`, { messages });
  }

  read(topic: string, broker: string, queueId: number, offset: number, max: number): Promise<ReadResultJson> {
    const q = `broker=${enc(broker)}&queueId=${queueId}&offset=${offset}&max=${max}`;
    return this.http.json('GET', `/v1/topics/${enc(topic)}/messages?${q}`);
  }

  /** POP through the gateway: the request's timeout covers its long-polling wait. */
  async receive(topic: string, group: string, request: ReceiveRequestJson): Promise<ReceivedMessageJson[]> {
    const timeoutMs = (request.waitSeconds ?? 0) * 1000 + RECEIVE_TIMEOUT_MARGIN_MS;
    return (await this.http.json<{ messages: ReceivedMessageJson[] }>('POST', `${groupPath(topic, group)}/receive`, request, timeoutMs)).messages;
  }

  /**
   * POP through the gateway as MessageViews: the answer is asked for as POP_PARTS (the
   * brokers' records, decoded as on the direct path); a gateway that answers JSON is read too.
   */
  async receiveMessages(topic: string, group: string, request: ReceiveRequestJson): Promise<MessageView[]> {
    return (await this.receiveWithAcks(topic, group, request)).messages;
  }

  /**
   * A receive that first acks `request.ack` (handles of this topic and group): one request for
   * the last batch's acks and the next batch. `ackResults` holds one result per handle, in order.
   */
  async receiveWithAcks(
    topic: string,
    group: string,
    request: ReceiveRequestJson & { ack?: string[] },
  ): Promise<{ messages: MessageView[]; ackResults?: AckResponse['results'] }> {
    const res = await this.http.request({
      method: 'POST',
      path: `${groupPath(topic, group)}/receive`,
      body: JSON.stringify(request),
      accept: `${POP_PARTS_TYPE}, application/json;q=0.5`,
      timeoutMs: (request.waitSeconds ?? 0) * 1000 + RECEIVE_TIMEOUT_MARGIN_MS,
    });
    if (res.status !== 200) throw errorFromBody(res.status, parseJson(res.body));
    const type = res.headers['content-type'];
    if (typeof type === 'string' && type.startsWith(POP_PARTS_TYPE)) return decodePopPartsAnswer(res.body);
    const json = parseJson(res.body) as { messages: ReceivedMessageJson[]; ackResults?: AckResponse['results'] };
    const messages = json.messages.map((m) => messageViewFromJson(topic, m));
    return json.ackResults === undefined ? { messages } : { messages, ackResults: json.ackResults };
  }

  ack(topic: string, group: string, receiptHandles: string[]): Promise<AckResponse> {
    return this.http.json('POST', `${groupPath(topic, group)}/ack`, { receiptHandles });
  }

  changeInvisibility(topic: string, group: string, entries: { receiptHandle: string; invisibleSeconds: number }[]): Promise<ChangeInvisibilityResponse> {
    return this.http.json('POST', `${groupPath(topic, group)}/change-invisibility`, { entries });
  }

  groupProgress(topic: string, group: string): Promise<GroupProgressJson> {
    return this.http.json('GET', groupPath(topic, group));
  }

  resetGroup(topic: string, group: string, to: ConsumeFrom): Promise<GroupProgressJson> {
    return this.http.json('POST', `${groupPath(topic, group)}/reset`, { to });
  }

  commitGroupOffset(topic: string, group: string, broker: string, queueId: number, offset: number): Promise<unknown> {
    return this.http.json('PUT', `${groupPath(topic, group)}/offsets`, { broker, queueId, offset });
  }

  async listGroups(): Promise<SubscriptionGroupConfig[]> {
    return (await this.http.json<{ groups: SubscriptionGroupConfig[] }>('GET', '/v1/groups')).groups;
  }

  getGroup(group: string): Promise<SubscriptionGroupConfig> {
    return this.http.json('GET', `/v1/groups/${enc(group)}`);
  }

  putGroup(group: string, request: PutGroupRequest): Promise<SubscriptionGroupConfig> {
    return this.http.json('PUT', `/v1/groups/${enc(group)}`, request);
  }

  async deleteGroup(group: string): Promise<void> {
    await this.http.json('DELETE', `/v1/groups/${enc(group)}`);
  }

  async cluster(): Promise<ClusterBrokerInfo[]> {
    return (await this.http.json<{ brokers: ClusterBrokerInfo[] }>('GET', '/v1/cluster')).brokers;
  }

  close(): void {
    this.http.close();
  }
}

const enc = encodeURIComponent;
const groupPath = (topic: string, group: string) => `/v1/topics/${enc(topic)}/groups/${enc(group)}`;

/** A receive's request timeout beyond its long-polling wait. */
const RECEIVE_TIMEOUT_MARGIN_MS = 5_000;
