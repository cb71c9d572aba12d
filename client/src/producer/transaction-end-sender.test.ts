import { describe, expect, it } from 'vitest';
import type { BrokerClient } from '../api/broker-client.js';
import { TransactionEndSender } from './transaction-end-sender.js';

type End = { messageId: string; resolution: 'COMMIT' | 'ROLLBACK' };

/** A broker end point that records each request and answers when the test says so. */
function recordingBroker() {
  const requests: End[][] = [];
  const answers: ((failures: { index: number; error: { code: string; message: string } }[]) => void)[] = [];
  const broker = {
    endTransaction: (messageId: string, resolution: End['resolution']) =>
      new Promise((resolve) => {
        requests.push([{ messageId, resolution }]);
        answers.push(() => resolve({}));
      }),
    endTransactions: (ends: readonly End[]) =>
      new Promise((resolve) => {
        requests.push([...ends]);
        answers.push((failures) => resolve({ failures }));
      }),
  } as unknown as BrokerClient;
  return { broker, requests, answers };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('TransactionEndSender', () => {
  it('sends the ends of one turn in one request, and those of later turns together when it comes back', async () => {
    const { broker, requests, answers } = recordingBroker();
    const sender = new TransactionEndSender(broker);
    // Ends made in one turn's microtasks, as senders answered by one read make them.
    const first = ['A1', 'A2', 'A3'].map((id) => Promise.resolve().then(() => sender.end(id, 'COMMIT')));
    await tick();
    expect(requests).toEqual([
      [
        { messageId: 'A1', resolution: 'COMMIT' },
        { messageId: 'A2', resolution: 'COMMIT' },
        { messageId: 'A3', resolution: 'COMMIT' },
      ],
    ]);
    // While it is in flight, two more turns' ends wait.
    const second = [sender.end('B1', 'ROLLBACK')];
    await tick();
    second.push(sender.end('B2', 'COMMIT'));
    await tick();
    expect(requests).toHaveLength(1);
    answers[0]!([{ index: 1, error: { code: 'TRANSACTION_ALREADY_ENDED', message: 'ended' } }]);
    const settled = await Promise.allSettled(first);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    await tick();
    expect(requests[1]).toEqual([
      { messageId: 'B1', resolution: 'ROLLBACK' },
      { messageId: 'B2', resolution: 'COMMIT' },
    ]);
    answers[1]!([]);
    await Promise.all(second);
  });

  it('a lone end is one request of its own, sent at the end of its turn', async () => {
    const { broker, requests, answers } = recordingBroker();
    const sender = new TransactionEndSender(broker);
    const done = sender.end('C1', 'COMMIT');
    expect(requests).toHaveLength(0);
    await Promise.resolve();
    await tick();
    expect(requests).toEqual([[{ messageId: 'C1', resolution: 'COMMIT' }]]);
    answers[0]!([]);
    await done;
  });
});
