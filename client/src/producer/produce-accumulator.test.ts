/**
 * autoBatch against a scripted send: what leaves together, in what order, and who gets which
 * results. Each scripted request is answered by the test.
 */
import { describe, expect, it } from 'vitest';
import type { PreparedMessage } from '../codec/send-batch.js';
import type { SendResult } from '../message.js';
import { ProduceAccumulator } from './produce-accumulator.js';

interface Request {
  topic: string;
  ids: string[];
  answer(): void;
  fail(e: Error): void;
}

function harness(maxInflight: number, maxMessages?: number) {
  const requests: Request[] = [];
  const acc = new ProduceAccumulator(
    (topic, prepared) =>
      new Promise<SendResult[]>((resolve, reject) => {
        const ids = prepared.map((p) => p.messageId);
        requests.push({
          topic,
          ids,
          answer: () => resolve(ids.map((messageId, i) => ({ messageId, queueOffset: i }) as unknown as SendResult)),
          fail: reject,
        });
      }),
    maxInflight,
    maxMessages,
  );
  return { acc, requests };
}

const msg = (id: string) => ({ messageId: id, body: Buffer.from(id), properties: '', propertiesLength: 0 }) as unknown as PreparedMessage;
const ids = (rs: SendResult[]) => rs.map((r) => r.messageId);
const turn = () => new Promise((r) => setImmediate(r));

describe('ProduceAccumulator', () => {
  it('sends the batches of one turn as one request, and answers each caller with its own results', async () => {
    const { acc, requests } = harness(4);
    const a = acc.submit('t', [msg('a1'), msg('a2')]);
    const b = acc.submit('t', [msg('b1')]);
    const c = acc.submit('u', [msg('c1')]);
    expect(requests).toHaveLength(0); // nothing leaves before the turn ends
    await turn();
    expect(requests.map((r) => [r.topic, r.ids])).toEqual([
      ['t', ['a1', 'a2', 'b1']],
      ['u', ['c1']],
    ]);
    for (const r of requests) r.answer();
    expect(ids(await a)).toEqual(['a1', 'a2']);
    expect(ids(await b)).toEqual(['b1']);
    expect(ids(await c)).toEqual(['c1']);
  });

  it('splits a turn at the batch limit, and merges what waits while maxInflight requests are out', async () => {
    const { acc, requests } = harness(2, 2);
    const sent = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'].map((id) => acc.submit('t', [msg(id)]));
    await turn();
    expect(requests.map((r) => r.ids)).toEqual([
      ['m1', 'm2'],
      ['m3', 'm4'],
    ]);
    requests[0]!.answer();
    await turn();
    expect(requests.map((r) => r.ids)).toEqual([
      ['m1', 'm2'],
      ['m3', 'm4'],
      ['m5', 'm6'],
    ]);
    requests[1]!.answer();
    requests[2]!.answer();
    await turn();
    expect(requests[3]!.ids).toEqual(['m7']);
    requests[3]!.answer();
    expect((await Promise.all(sent)).map(ids)).toEqual([['m1'], ['m2'], ['m3'], ['m4'], ['m5'], ['m6'], ['m7']]);
  });

  it('fails every caller of a failed request, and sends later batches afresh', async () => {
    const { acc, requests } = harness(4);
    const a = acc.submit('t', [msg('a1')]);
    const b = acc.submit('t', [msg('b1')]);
    await turn();
    requests[0]!.fail(new Error('broker down'));
    await expect(a).rejects.toThrow('broker down');
    await expect(b).rejects.toThrow('broker down');
    const c = acc.submit('t', [msg('c1')]);
    await turn();
    expect(requests[1]!.ids).toEqual(['c1']);
    requests[1]!.answer();
    expect(ids(await c)).toEqual(['c1']);
  });
});
