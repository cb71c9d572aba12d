import { describe, expect, it } from 'vitest';
import { turnCorker } from './turn-cork.js';

describe('turnCorker', () => {
  it('corks once per event-loop turn and uncorks on the next tick', async () => {
    const calls: string[] = [];
    const cork = turnCorker({ cork: () => calls.push('cork'), uncork: () => calls.push('uncork') });
    cork();
    cork();
    cork();
    expect(calls).toEqual(['cork']);
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['cork', 'uncork']);
    cork();
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['cork', 'uncork', 'cork', 'uncork']);
  });
});
