/** A broker's HTTP API: binary send batches in, raw records out. */
import { CirrusError, errorFromBody } from '../errors';
import { HttpClient, parseJson, type HttpResponse } from '../http/http-client';
import { decodeRecords } from '../codec/record';
import type { MessageExt } from '../message';
import { ContentTypes, PullHeaders, type BrokerSendResponse } from './types';

export interface PullResult {
  messages: MessageExt[];
  nextOffset: number;
  minOffset: number;
  maxOffset: number;
}

export class BrokerClient {
  private readonly http: HttpClient;

  constructor(readonly addr: string, options: { timeoutMs?: number; maxSockets?: number } = {}) {
    this.http = new HttpClient(addr, options);
  }

  /** Sends an encoded batch (codec/send-batch.ts); the broker stores it in one queue. */
  async sendBatch(body: Buffer, timeoutMs?: number): Promise<BrokerSendResponse> {
    const res = await this.http.request({ method: 'POST', path: '/v1/send', body, contentType: ContentTypes.SEND_BATCH, timeoutMs });
    if (res.status !== 200) throw errorOf(res);
    return JSON.parse(res.body.toString('utf8')) as BrokerSendResponse;
  }

  async pull(topic: string, queueId: number, offset: number, max: number): Promise<PullResult> {
    const q = `topic=${encodeURIComponent(topic)}&queueId=${queueId}&offset=${offset}&max=${max}`;
    const res = await this.http.request({ method: 'GET', path: `/v1/messages?${q}` });
    if (res.status !== 200) throw errorOf(res);
    return {
      messages: decodeRecords(res.body),
      nextOffset: Number(res.headers[PullHeaders.NEXT_OFFSET]),
      minOffset: Number(res.headers[PullHeaders.MIN_OFFSET]),
      maxOffset: Number(res.headers[PullHeaders.MAX_OFFSET]),
    };
  }

  close(): void {
    this.http.close();
  }
}

function errorOf(res: HttpResponse): CirrusError {
  return errorFromBody(res.status, parseJson(res.body));
}

/** One client (and so one keep-alive pool) per broker address. */
export class BrokerClients {
  private readonly clients = new Map<string, BrokerClient>();

  constructor(private readonly options: { timeoutMs?: number; maxSockets?: number } = {}) {}

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
