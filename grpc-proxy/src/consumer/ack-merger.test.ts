import { describe, expect, it } from 'vitest';
import type { AckResponse } from '@cirrusmq/client/protocol';
import { AckMerger, MAX_INFLIGHT } from './ack-merger.js';

/** A broker stub whose answers the test releases one request at a time. */
function stub() {
  const calls: { key: string; handles: string[]; answer(fail?: Error): void }[] = [];
  const call = (addr: string, topic: string, group: string, handles: string[]) =>
    new Promise<AckResponse>((resolve, reject) => {
      calls.push({
        key: `${addr}/${topic}/${group}`,
        handles,
        answer: (fail) =>
          fail
            ? reject(fail)
            : resolve({
                results: handles.map((h) =>
                  h.startsWith('bad') ? { status: 'FAILED', error: { code: 'RECEIPT_HANDLE_EXPIRED', message: h } } : { status: 'OK' },
                ),
              }),
      });
    });
  return { calls, merger: new AckMerger(call) };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('AckMerger', () => {
  it('sends at once while under MAX_INFLIGHT, then merges what waits into one request, each caller getting its own results in order', async () => {
    const { calls, merger } = stub();
    const first = Array.from({ length: MAX_INFLIGHT }, (_, i) => merger.ack('b1', 'T', 'g', [`h${i}`]));
    await tick();
    expect(calls.map((c) => c.handles)).toEqual(Array.from({ length: MAX_INFLIGHT }, (_, i) => [`h${i}`]));
    const later = [merger.ack('b1', 'T', 'g', ['x1', 'bad-x2']), merger.ack('b1', 'T', 'g', ['x3'])];
    // Another lane (group) is not held back by this one.
    const other = merger.ack('b1', 'T', 'g2', ['y1']);
    await tick();
    expect(calls.map((c) => c.key)).toEqual([...Array(MAX_INFLIGHT).fill('b1/T/g'), 'b1/T/g2']);
    calls[0]!.answer();
    await tick();
    expect(calls.at(-1)!.handles).toEqual(['x1', 'bad-x2', 'x3']);
    for (const c of calls.slice(1)) c.answer();
    expect((await first[0]!).results).toEqual([{ status: 'OK' }]);
    expect((await later[0]!).results.map((r) => r.status)).toEqual(['OK', 'FAILED']);
    expect((await later[1]!).results).toEqual([{ status: 'OK' }]);
    expect((await other).results).toEqual([{ status: 'OK' }]);
  });

  it('a failed request fails only the acks it carried', async () => {
    const { calls, merger } = stub();
    const a = merger.ack('b1', 'T', 'g', ['a']);
    const b = merger.ack('b1', 'T', 'g', ['b']);
    await tick();
    calls[0]!.answer(new Error('broker gone'));
    calls[1]!.answer();
    await expect(a).rejects.toThrow('broker gone');
    expect((await b).results).toEqual([{ status: 'OK' }]);
  });

  it('never puts more than 100 handles in one request', async () => {
    const { calls, merger } = stub();
    const all = merger.ack(
      'b1',
      'T',
      'g',
      Array.from({ length: 250 }, (_, i) => `h${i}`),
    );
    await tick();
    expect(calls.map((c) => c.handles.length)).toEqual([100, 100]);
    calls[0]!.answer();
    await tick();
    expect(calls.map((c) => c.handles.length)).toEqual([100, 100, 50]);
    calls[1]!.answer();
    calls[2]!.answer();
    expect((await all).results).toHaveLength(250);
  });
});
