import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { partsAnswer } from './http-answer';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as (o?: { type: 'minor' | 'major'; execution: 'sync' }) => void;

describe('partsAnswer', () => {
  it('joins the parts only when body is read', () => {
    const a = partsAnswer([Buffer.from('ab'), Buffer.from('c')], 'application/x-test');
    expect(a.parts?.length).toBe(2);
    expect(a.contentType).toBe('application/x-test');
    expect(a.body.toString()).toBe('abc');
    expect(a.body).toBe(a.body);
  });

  // The gateway makes one per receive, holding the brokers' answers: if anything in old space
  // points at them (as a per-object getter's AccessorPair did), every answer outlives the
  // scavenges and only mark-compacts free them, several a second under load.
  it('is freed by a scavenge once dropped, with the buffers it holds', async () => {
    gc({ type: 'major', execution: 'sync' });
    const before = process.memoryUsage().arrayBuffers;
    (() => {
      for (let i = 0; i < 100; i++) partsAnswer([Buffer.allocUnsafeSlow(64 * 1024)], 'application/x-test');
    })();
    expect(process.memoryUsage().arrayBuffers - before).toBeGreaterThanOrEqual(100 * 64 * 1024);
    gc({ type: 'minor', execution: 'sync' });
    await new Promise((r) => setImmediate(r));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(10 * 64 * 1024);
  });
});
