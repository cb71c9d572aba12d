import { constants, PerformanceObserver, performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { partsAnswer } from './http-answer';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as (o?: { type: 'minor' | 'major'; execution: 'sync' }) => void;

/** Start times of the major GCs seen since the observer started. */
const majors: number[] = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors.push(e.startTime);
});
observer.observe({ entryTypes: ['gc'] });
afterAll(() => observer.disconnect());

const BUFFER = 64 * 1024;

/**
 * Bytes of 100 dropped answers' buffers still held after one scavenge and its sweep (which runs
 * on a background thread); undefined when the round tells nothing: a major GC of V8's own came
 * between (it frees anything), or other buffers were freed while these were made.
 */
async function heldAfterOneScavenge(): Promise<number | undefined> {
  gc({ type: 'major', execution: 'sync' });
  const start = performance.now();
  const before = process.memoryUsage().arrayBuffers;
  (() => {
    for (let i = 0; i < 100; i++) partsAnswer([Buffer.allocUnsafeSlow(BUFFER)], 'application/x-test');
  })();
  // Other buffers freed meanwhile (a sweep still running) would blur the count: try again then.
  if (process.memoryUsage().arrayBuffers - before < 90 * BUFFER) return undefined;
  gc({ type: 'minor', execution: 'sync' });
  let held = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 20 && held >= 10 * BUFFER; i++) {
    await new Promise((r) => setImmediate(r));
    held = process.memoryUsage().arrayBuffers - before;
  }
  // The observer hears of a GC a little later: give it a turn.
  await new Promise((r) => setTimeout(r, 5));
  return majors.some((t) => t > start) ? undefined : held;
}

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
    // A round now and then keeps them for reasons of V8's own (its heuristics, not this code);
    // held from old space, every round keeps them all.
    const rounds: (number | undefined)[] = [];
    while (rounds.length < 8 && !rounds.some((held) => held !== undefined && held < 10 * BUFFER)) rounds.push(await heldAfterOneScavenge());
    expect(rounds.filter((held) => held !== undefined).length, 'every round was blurred by a major GC or by other buffers freed').toBeGreaterThan(0);
    expect(Math.min(...rounds.filter((held) => held !== undefined)), `bytes held after each round: ${rounds.join(', ')}`).toBeLessThan(10 * BUFFER);
  });
});
