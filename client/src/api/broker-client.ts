/** A broker's HTTP API: binary send batches in, raw records out (reads and lookups). */
import { CirrusError, type ErrorDetails, errorFromBody } from '../errors.js';
import { ackAnswerResults } from './ack-answer.js';
import type { ScheduleCancelled } from './cancel-scheduled.js';
import type { BrokerTransactionCheck } from './transaction-check.js';
import { parseJson, type HttpResponse } from '../http/http-client.js';
import { BrokerTransport, type BrokerTransportKind, type BrokerTransportOptions } from '../remoting/broker-transport.js';
import { decodeRecords } from '../codec/record.js';
import { buildSubscriptionData } from '../filter/subscription-data.js';
import type { MessageExt } from '../message.js';
import type {
  AckRequest,
  AckResponse,
  ChangeInvisibilityRequest,
  ChangeInvisibilityResponse,
  CommitOffsetRequest,
  ConsumerProgress,
  PopRequest,
  PopResultMeta,
  PoppedMeta,
  ResetOffsetRequest,
} from './consume-types.js';
import { ContentTypes, PullHeaders, type BrokerSendResponse, type Durability } from './types.js';

/** A broker's answer to a topic delete. */
export interface BrokerDeleteTopicResponse {
  topic: string;
  brokerName: string;
  /** The topic's records below this CommitLog offset are deleted. */
  deletedBelow: number;
  /** ConsumeQueues removed. */
  queues: number;
}

export interface PullResult {
  messages: MessageExt[];
  nextOffset: number;
  minOffset: number;
  maxOffset: number;
}

/** A message a POP leased: the stored message, its lease's receipt handle and which delivery this is. */
export interface PoppedMessage extends MessageExt {
  receiptHandle: string;
  deliveryAttempt: number;
  brokerName: string;
}

/** A lookup by key: a time range in ms (default all time) and how many of the newest matches (default 32). */
export interface QueryMessageOptions {
  begin?: number;
  end?: number;
  max?: number;
}

/** A transaction a broker ended: COMMIT gives the message's offset in its queue. */
export interface TransactionEnded {
  transactionId: string;
  messageId: string;
  resolution: 'COMMIT' | 'ROLLBACK';
  topic: string;
  queueId: number;
  queueOffset?: number;
}

export class BrokerClient {
  /** Remoting frames on one connection by default, HTTP/1.1 with `transport: 'http'` or against a broker that refuses the upgrade. */
  private readonly http: BrokerTransport;

  constructor(
    readonly addr: string,
    options: BrokerTransportOptions = {},
  ) {
    this.http = new BrokerTransport(addr, options);
  }

  /** The transport the next call takes: 'remoting', or 'http' (so configured, or the broker refused the upgrade). */
  transport(): BrokerTransportKind {
    return this.http.current();
  }

  /** Sends an encoded batch (codec/send-batch.ts); the broker stores it in one queue. `durability`: the ack asked for (ProducerOptions.durability). */
  async sendBatch(body: Buffer, timeoutMs?: number, durability?: Durability): Promise<BrokerSendResponse> {
    const path = durability ? `/v1/send?durability=${durability}` : '/v1/send';
    const res = await this.http.request({ method: 'POST', path, body, contentType: ContentTypes.SEND_BATCH, timeoutMs });
    if (res.status !== 200) throw errorOf(res);
    return JSON.parse(res.body.toString('utf8')) as BrokerSendResponse;
  }

  /**
   * Reads a queue from `offset`. With a tag `expression` (`TagA || TagB`; `*` or none for
   * all) the broker skips other tags: an answer may then hold no message while nextOffset
   * moves on, so read until nextOffset reaches maxOffset. A bad expression throws
   * INVALID_PARAMETER before any call; an offset deleted by retention throws
   * OFFSET_BELOW_MINIMUM with details.minOffset.
   */
  async pull(topic: string, queueId: number, offset: number, max: number, expression?: string): Promise<PullResult> {
    let q = `topic=${encodeURIComponent(topic)}&queueId=${queueId}&offset=${offset}&max=${max}`;
    const sub = buildSubscriptionData(expression);
    if (!sub.subAll) q += `&tag=${encodeURIComponent(sub.subString)}`;
    const res = await this.http.request({ method: 'GET', path: `/v1/messages?${q}` });
    if (res.status !== 200) throw errorOf(res);
    return {
      messages: decodeRecords(res.body),
      nextOffset: Number(res.headers[PullHeaders.NEXT_OFFSET]),
      minOffset: Number(res.headers[PullHeaders.MIN_OFFSET]),
      maxOffset: Number(res.headers[PullHeaders.MAX_OFFSET]),
    };
  }

  /** Messages of `topic` whose KEYS hold `key`, through the broker's index: the newest `max`, oldest first (RocketMQ's queryMessage). */
  async queryMessage(topic: string, key: string, options: QueryMessageOptions = {}): Promise<MessageExt[]> {
    let q = `topic=${encodeURIComponent(topic)}&key=${encodeURIComponent(key)}`;
    if (options.begin !== undefined) q += `&begin=${options.begin}`;
    if (options.end !== undefined) q += `&end=${options.end}`;
    if (options.max !== undefined) q += `&max=${options.max}`;
    const res = await this.http.request({ method: 'GET', path: `/v1/messages/by-key?${q}` });
    if (res.status !== 200) throw errorOf(res);
    return decodeRecords(res.body);
  }

  /** The stored copies of message `messageId` (UNIQ_KEY) on this broker: usually one, none when it is not here. */
  async viewMessage(messageId: string): Promise<MessageExt[]> {
    const res = await this.http.request({ method: 'GET', path: `/v1/messages/by-id/${encodeURIComponent(messageId)}` });
    if (res.status !== 200) throw errorOf(res);
    return decodeRecords(res.body);
  }

  /**
   * Deletes a topic's queues and index entries on this broker (RocketMQ's deleteTopicInBroker);
   * resolves once the delete is durable there. `createdAt`: the NameServer's incarnation being
   * deleted (TopicInfo.createdAt).
   */
  deleteTopic(topic: string, createdAt?: number, timeoutMs?: number): Promise<BrokerDeleteTopicResponse> {
    const body = createdAt === undefined ? {} : { createdAt };
    return this.http.json<BrokerDeleteTopicResponse>('POST', `/v1/admin/topics/${encodeURIComponent(topic)}/delete`, body, timeoutMs);
  }

  /**
   * POP (RocketMQ 5's PopMessage): leases up to `max` messages of `topic` for `group`, each
   * invisible to the group for `invisibleMs`; waits up to `waitMs` when none is there. The
   * request timeout covers the wait. Aborting `endWait` ends the wait early (over remoting):
   * the answer still comes, with whatever was leased by then.
   */
  async pop(request: PopRequest, brokerName: string, endWait?: AbortSignal): Promise<PoppedMessage[]> {
    return decodePopResult(await this.popRaw(request, endWait), brokerName);
  }

  /** pop's answer undecoded (a POP_RESULT body: decodePopResult's layout), for a caller that re-encodes the records itself. */
  async popRaw(request: PopRequest, endWait?: AbortSignal): Promise<Buffer> {
    const res = await this.http.request({
      method: 'POST',
      path: '/v1/consume/pop',
      body: JSON.stringify(request),
      timeoutMs: request.waitMs + POP_TIMEOUT_MARGIN_MS,
      endWait,
    });
    if (res.status !== 200) throw errorOf(res);
    return res.body;
  }

  /** Cancels a scheduled message held pending here (TIMER_NOT_FOUND, TIMER_ALREADY_FIRED otherwise). */
  cancelTimer(topic: string, messageId: string): Promise<ScheduleCancelled> {
    return this.http.json<ScheduleCancelled>('POST', `/v1/timer/cancel?topic=${encodeURIComponent(topic)}&messageId=${encodeURIComponent(messageId)}`);
  }

  /** Commits or rolls back a half message held here; TRANSACTION_NOT_FOUND, or TRANSACTION_ALREADY_ENDED with details.resolution. */
  endTransaction(messageId: string, resolution: 'COMMIT' | 'ROLLBACK'): Promise<TransactionEnded> {
    return this.http.json('POST', `/v1/transaction/end?messageId=${encodeURIComponent(messageId)}&resolution=${resolution}`);
  }

  /** Several ends in one request, one answer per end in order: the ended transaction, or its error. */
  endTransactionsAnswered(ends: readonly { messageId: string; resolution: 'COMMIT' | 'ROLLBACK' }[]): Promise<{
    results: (TransactionEnded | { error: { code: string; message: string; details?: ErrorDetails } })[];
  }> {
    return this.http.json('POST', '/v1/transaction/end', { ends });
  }

  /**
   * Several ends in one request, answered with the failed ones only (`failures`, by index; none:
   * all ended). A broker from before that form answers one result per end, in order (`results`).
   */
  endTransactions(ends: readonly { messageId: string; resolution: 'COMMIT' | 'ROLLBACK' }[]): Promise<{
    failures?: { index: number; error: { code: string; message: string; details?: ErrorDetails } }[];
    results?: { error?: { code: string; message: string; details?: ErrorDetails } }[];
  }> {
    return this.http.json('POST', '/v1/transaction/end', { ends, answer: 'failures' });
  }

  /** Registers `group` here with the URL this broker POSTs its transaction checks to (null: SDK producers long-poll for them). */
  setProducerGroupCheckUrl(group: string, checkUrl: string | null): Promise<{ group: string; checkUrl: string | null }> {
    return this.http.json('POST', `/v1/transaction/producer-group?group=${encodeURIComponent(group)}`, { checkUrl });
  }

  /** The producer groups registered on this broker, with their check URLs (null: SDK producers long-poll for checks). */
  async producerGroups(): Promise<{ group: string; checkUrl: string | null }[]> {
    return (await this.http.json<{ groups: { group: string; checkUrl: string | null }[] }>('GET', '/v1/transaction/producer-groups')).groups;
  }

  /**
   * A producer group's transaction check-backs due on this broker (a long poll up to `waitMs`);
   * `signal` ends the poll early (its producer left).
   */
  async transactionChecks(producerGroup: string, waitMs: number, signal?: AbortSignal): Promise<BrokerTransactionCheck[]> {
    const res = await this.http.request({
      method: 'GET',
      path: `/v1/transaction/checks?producerGroup=${encodeURIComponent(producerGroup)}&waitMs=${waitMs}`,
      timeoutMs: waitMs + POP_TIMEOUT_MARGIN_MS,
      signal,
    });
    if (res.status !== 200) throw errorOf(res);
    return (parseJson(res.body) as { checks: BrokerTransactionCheck[] }).checks;
  }

  /** Ends the leases of these receipt handles; one result per handle, in order. */
  async ack(request: AckRequest): Promise<AckResponse> {
    const res = await this.http.request({ method: 'POST', path: '/v1/consume/ack', body: JSON.stringify(request) });
    if (res.status < 200 || res.status >= 300) throw errorOf(res);
    const results = ackAnswerResults(res.body);
    if (results === undefined) throw new CirrusError('INTERNAL', `broker ${this.addr} answered an ack without results`);
    return { results };
  }

  /** Moves each lease's deadline to now + invisibleMs; an OK result carries the new handle. */
  changeInvisibility(request: ChangeInvisibilityRequest): Promise<ChangeInvisibilityResponse> {
    return this.http.json<ChangeInvisibilityResponse>('POST', '/v1/consume/change-invisibility', request);
  }

  /** The group's offsets, leases in flight and lag on each queue of the topic on this broker. */
  progress(topic: string, group: string): Promise<ConsumerProgress> {
    return this.http.json<ConsumerProgress>('GET', `/v1/consume/progress?topic=${encodeURIComponent(topic)}&group=${encodeURIComponent(group)}`);
  }

  /** Commits a pull consumer's offset (never backwards; a reset moves it back). */
  commitOffset(request: CommitOffsetRequest): Promise<ConsumerProgress> {
    return this.http.json<ConsumerProgress>('POST', '/v1/consume/offsets/commit', request);
  }

  /** Moves the group to earliest, latest or a timestamp on every queue of the topic here; leases in flight end. */
  resetOffset(request: ResetOffsetRequest): Promise<ConsumerProgress> {
    return this.http.json<ConsumerProgress>('POST', '/v1/consume/offsets/reset', request);
  }

  /** The broker's store figures (GET /v1/stats), or null when it does not answer within `timeoutMs`. */
  async stats(timeoutMs: number): Promise<Record<string, unknown> | null> {
    // The request timeout covers the answer, not the connect: a race bounds both.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    try {
      const answer = this.http.json<Record<string, unknown>>('GET', '/v1/stats', undefined, timeoutMs).catch(() => null);
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.http.close();
  }
}

/** A pop's request timeout beyond its long-polling wait. */
const POP_TIMEOUT_MARGIN_MS = 5_000;

/** Splits a POP_RESULT body (consume-types.ts) into messages with their leases. */
export function decodePopResult(body: Buffer, brokerName: string): PoppedMessage[] {
  if (body.length < 4) throw new Error(`pop result of ${body.length} bytes has no meta length`);
  const metaLength = body.readUInt32BE(0);
  const meta = JSON.parse(body.toString('utf8', 4, 4 + metaLength)) as PopResultMeta;
  const records = decodeRecords(body.subarray(4 + metaLength));
  if (records.length !== meta.messages.length) {
    throw new Error(`pop result holds ${records.length} records for ${meta.messages.length} leases`);
  }
  // The decoded records gain the lease's fields in place: a copy by spread was the largest piece of a consumer's CPU per message.
  const out = records as PoppedMessage[];
  for (let i = 0; i < out.length; i++) {
    const m = out[i]!;
    const lease: PoppedMeta = meta.messages[i]!;
    m.receiptHandle = lease.receiptHandle;
    m.deliveryAttempt = lease.deliveryAttempt;
    m.brokerName = brokerName;
  }
  return out;
}

/** A POP_RESULT body (decodePopResult's layout) in one buffer. */
export function encodePopResult(meta: PopResultMeta, records: Buffer | readonly Buffer[]): Buffer {
  return Buffer.concat(popResultParts(meta, records));
}

/**
 * A POP_RESULT body as its pieces: the length-prefixed meta, then the records as they were read.
 * The broker writes them as they are (one writev), with no copy of the records into an answer.
 */
export function popResultParts(meta: PopResultMeta, records: Buffer | readonly Buffer[]): Buffer[] {
  const json = JSON.stringify(meta);
  const head = Buffer.allocUnsafe(4 + Buffer.byteLength(json));
  head.writeUInt32BE(head.length - 4, 0);
  head.write(json, 4, 'utf8');
  return Buffer.isBuffer(records) ? [head, records] : [head, ...records];
}

function errorOf(res: HttpResponse): CirrusError {
  return errorFromBody(res.status, parseJson(res.body));
}

/** One client (and so one keep-alive pool) per broker address. */
export class BrokerClients {
  private readonly clients = new Map<string, BrokerClient>();

  constructor(private readonly options: BrokerTransportOptions = {}) {}

  get(addr: string): BrokerClient {
    let c = this.clients.get(addr);
    if (!c) {
      c = new BrokerClient(addr, this.options);
      this.clients.set(addr, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
