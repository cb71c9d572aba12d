/** The NameServer's HTTP API, as brokers, the gateway and the CLI call it. */
import { CirrusError, errorFromBody } from '../errors.js';
import { HttpClient, parseJson, type HttpResponse } from '../http/http-client.js';
import type { PutGroupRequest, SubscriptionGroupConfig } from './consume-types.js';
import type { BrokerRegistration, ClusterBrokerInfo, CreateTopicRequest, RegisterBrokerResult, TopicInfo, TopicRouteData } from './types.js';

export interface NameServerApi {
  /** Calls made so far, where the implementation counts them. */
  readonly calls?: number;
  registerBroker(reg: BrokerRegistration): Promise<RegisterBrokerResult>;
  unregisterBroker(clusterName: string, brokerName: string, brokerId: number): Promise<void>;
  getRouteInfoByTopic(topic: string): Promise<TopicRouteData>;
  createTopic(req: CreateTopicRequest): Promise<{ created: boolean; topic: TopicInfo }>;
  getTopic(topic: string): Promise<TopicInfo>;
  listTopics(): Promise<TopicInfo[]>;
  deleteTopic(topic: string): Promise<void>;
  getCluster(): Promise<ClusterBrokerInfo[]>;
  /** GROUP_NOT_FOUND when the group was never created. */
  getGroup(group: string): Promise<SubscriptionGroupConfig>;
  /** The group's config, created with the defaults if absent (a group is created on first use). */
  ensureGroup(group: string): Promise<SubscriptionGroupConfig>;
  putGroup(group: string, req: PutGroupRequest): Promise<{ created: boolean; group: SubscriptionGroupConfig }>;
  listGroups(): Promise<SubscriptionGroupConfig[]>;
  /** GROUP_NOT_FOUND when there was no such group. */
  deleteGroup(group: string): Promise<void>;
}

export class NameServerClient implements NameServerApi {
  private readonly http: HttpClient;
  /** Calls made, so benchmarks can show the hot path does not ask the NameServer. */
  calls = 0;

  constructor(address: string, options: { timeoutMs?: number } = {}) {
    this.http = new HttpClient(address, { maxSockets: 16, timeoutMs: options.timeoutMs ?? 5_000 });
  }

  private async send(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<HttpResponse> {
    this.calls++;
    try {
      return await this.http.request({ method, path, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      if (e instanceof CirrusError && e.code === 'BROKER_UNAVAILABLE') {
        throw new CirrusError('NAMESERVER_UNAVAILABLE', `NameServer ${this.http.host}:${this.http.port} unreachable`, { cause: e });
      }
      throw e;
    }
  }

  private async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    const parsed = parseJson(res.body);
    if (res.status < 200 || res.status >= 300) throw errorFromBody(res.status, parsed);
    return parsed as T;
  }

  registerBroker(reg: BrokerRegistration): Promise<RegisterBrokerResult> {
    return this.call('POST', '/v1/brokers', reg);
  }

  async unregisterBroker(clusterName: string, brokerName: string, brokerId: number): Promise<void> {
    await this.call('DELETE', `/v1/brokers/${enc(clusterName)}/${enc(brokerName)}/${brokerId}`);
  }

  getRouteInfoByTopic(topic: string): Promise<TopicRouteData> {
    return this.call('GET', `/v1/topics/${enc(topic)}/route`);
  }

  async createTopic(req: CreateTopicRequest): Promise<{ created: boolean; topic: TopicInfo }> {
    // 201 tells a new topic from an existing one (200), so the status is read too.
    const res = await this.send('POST', '/v1/topics', req);
    const parsed = parseJson(res.body);
    if (res.status !== 200 && res.status !== 201) throw errorFromBody(res.status, parsed);
    return { created: res.status === 201, topic: parsed as TopicInfo };
  }

  getTopic(topic: string): Promise<TopicInfo> {
    return this.call('GET', `/v1/topics/${enc(topic)}`);
  }

  async listTopics(): Promise<TopicInfo[]> {
    return (await this.call<{ topics: TopicInfo[] }>('GET', '/v1/topics')).topics;
  }

  async deleteTopic(topic: string): Promise<void> {
    await this.call('DELETE', `/v1/topics/${enc(topic)}`);
  }

  async getCluster(): Promise<ClusterBrokerInfo[]> {
    return (await this.call<{ brokers: ClusterBrokerInfo[] }>('GET', '/v1/cluster')).brokers;
  }

  getGroup(group: string): Promise<SubscriptionGroupConfig> {
    return this.call('GET', `/v1/groups/${enc(group)}`);
  }

  ensureGroup(group: string): Promise<SubscriptionGroupConfig> {
    return this.call('POST', `/v1/groups/${enc(group)}/ensure`);
  }

  async putGroup(group: string, req: PutGroupRequest): Promise<{ created: boolean; group: SubscriptionGroupConfig }> {
    // 201 tells a new group from an updated one (200), so the status is read too.
    const res = await this.send('PUT', `/v1/groups/${enc(group)}`, req);
    const parsed = parseJson(res.body);
    if (res.status !== 200 && res.status !== 201) throw errorFromBody(res.status, parsed);
    return { created: res.status === 201, group: parsed as SubscriptionGroupConfig };
  }

  async listGroups(): Promise<SubscriptionGroupConfig[]> {
    return (await this.call<{ groups: SubscriptionGroupConfig[] }>('GET', '/v1/groups')).groups;
  }

  async deleteGroup(group: string): Promise<void> {
    await this.call('DELETE', `/v1/groups/${enc(group)}`);
  }

  close(): void {
    this.http.close();
  }
}

const enc = encodeURIComponent;
