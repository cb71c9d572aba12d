/**
 * TurnBatcher: the submits of one event-loop turn for one key are one call, each submit gets
 * its own entries' results in order, a failed call fails only its own submits, and a call
 * never carries more than the broker's limit.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CirrusError } from '@cirrusmq/client/protocol';
import { TurnBatcher } from './turn-batcher';

function batcher(max = 100, fail = new Set<string>()) {
  const calls: { key: string; entries: string[] }[] = [];
  const b = new TurnBatcher<string, string, string>(async (key, entries) => {
    calls.push({ key, entries });
    if (fail.has(key)) throw new CirrusError('BROKER_UNAVAILABLE', `${key} down`);
    return entries.map((e) => `${key}:${e}`);
  }, max);
  return { b, calls };
}

describe('TurnBatcher', () => {
  it('makes one call for the submits of one key in one turn and answers each its own results in order', async () => {
    const { b, calls } = batcher();
    const answers = await Promise.all([b.submit('a', 'a', ['1', '2']), b.submit('a', 'a', ['3']), b.submit('a', 'a', ['4', '5', '6'])]);
    expect(calls).toEqual([{ key: 'a', entries: ['1', '2', '3', '4', '5', '6'] }]);
    expect(answers).toEqual([['a:1', 'a:2'], ['a:3'], ['a:4', 'a:5', 'a:6']]);
    expect([b.calls, b.submits]).toEqual([1, 3]);
  });

  it('a failing key fails only its own submits; the other key of the turn is answered', async () => {
    const { b, calls } = batcher(100, new Set(['down']));
    const results = await Promise.allSettled([b.submit('down', 'down', ['1']), b.submit('up', 'up', ['2']), b.submit('down', 'down', ['3'])]);
    expect(calls.map((c) => c.key).sort()).toEqual(['down', 'up']);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected']);
    expect((results[1] as PromiseFulfilledResult<string[]>).value).toEqual(['up:2']);
    expect(((results[0] as PromiseRejectedResult).reason as CirrusError).code).toBe('BROKER_UNAVAILABLE');
  });

  it('submits of different turns are different calls', async () => {
    const { b, calls } = batcher();
    const first = b.submit('a', 'a', ['1']);
    await nextTurn();
    const second = b.submit('a', 'a', ['2']);
    expect(await Promise.all([first, second])).toEqual([['a:1'], ['a:2']]);
    expect(calls.map((c) => c.entries)).toEqual([['1'], ['2']]);
  });

  it('never puts more than the limit in one call: a submit that would overflow starts the next', async () => {
    const { b, calls } = batcher(4);
    const answers = await Promise.all([b.submit('a', 'a', ['1', '2', '3']), b.submit('a', 'a', ['4', '5']), b.submit('a', 'a', ['6', '7'])]);
    expect(calls.map((c) => c.entries)).toEqual([
      ['1', '2', '3'],
      ['4', '5', '6', '7'],
    ]);
    expect(answers).toEqual([
      ['a:1', 'a:2', 'a:3'],
      ['a:4', 'a:5'],
      ['a:6', 'a:7'],
    ]);
  });

  it('an answer with the wrong number of results fails every submit of that call', async () => {
    const b = new TurnBatcher<string, string, string>(async () => ['only one'], 100);
    const results = await Promise.allSettled([b.submit('a', 'a', ['1']), b.submit('a', 'a', ['2'])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(((results[0] as PromiseRejectedResult).reason as CirrusError).code).toBe('INTERNAL');
  });
});
