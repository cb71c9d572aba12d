import { describe, expect, it } from 'vitest';
import { PopLongPollingService } from './pop-long-polling-service';

describe('PopLongPollingService', () => {
  it('an arrival wakes one waiter per group, the oldest; others keep waiting', async () => {
    const p = new PopLongPollingService();
    const woke: string[] = [];
    const a1 = p.park('T', 'ga', -1, 5_000).then((w) => w && woke.push('a1'));
    const a2 = p.park('T', 'ga', -1, 5_000).then((w) => w && woke.push('a2'));
    const b1 = p.park('T', 'gb', -1, 5_000).then((w) => w && woke.push('b1'));
    p.notifyMessageArriving('T', 0);
    await Promise.all([a1, b1]);
    expect(woke.sort()).toEqual(['a1', 'b1']);
    expect(p.parked()).toBe(1);
    p.wakeAll();
    await a2;
    expect(p.parked()).toBe(0);
  });

  it('a waiter for one queue is not woken by another queue; a release wakes only its group', async () => {
    const p = new PopLongPollingService();
    let q1 = false;
    const w = p.park('T', 'g', 1, 5_000).then(() => (q1 = true));
    p.notifyMessageArriving('T', 0);
    p.notifyReleased('T', 'other', 1);
    await new Promise((r) => setImmediate(r));
    expect(q1).toBe(false);
    p.notifyReleased('T', 'g', 1);
    await w;
    expect(q1).toBe(true);
  });

  it('times out with false and leaves nothing parked; versions move on arrivals', async () => {
    const p = new PopLongPollingService();
    const v = p.version('T');
    expect(await p.park('T', 'g', -1, 10)).toBe(false);
    expect(p.parked()).toBe(0);
    p.notifyMessageArriving('T', 0);
    expect(p.version('T')).toBe(v + 1);
  });
});
