import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { writeBatched } from './batched-writes';

/** A Writable shaped like grpc-js's server stream: `_write` only, each write completing later (as an HTTP/2 write does). */
class SlowWrites extends Writable {
  readonly started: unknown[] = [];
  readonly pending: ((error?: Error | null) => void)[] = [];
  finalAfter = -1;

  constructor() {
    super({ objectMode: true });
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.started.push(chunk);
    this.pending.push(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finalAfter = this.started.length;
    callback();
  }

  completeAll(error?: Error): void {
    for (const cb of this.pending.splice(0)) cb(error ?? null);
  }
}

describe('writeBatched', () => {
  it('hands every response to _write at once, in order, and the status (_final) waits until all completed', async () => {
    const stream = new SlowWrites();
    const responses = Array.from({ length: 34 }, (_, i) => ({ i }));
    writeBatched(stream, responses);
    stream.end();
    await new Promise((r) => setImmediate(r));
    // Without _writev a Writable would have one write out and 33 waiting for it.
    expect(stream.started).toEqual(responses);
    expect(stream.finalAfter).toBe(-1);
    stream.completeAll();
    await new Promise((r) => stream.once('finish', r));
    expect(stream.finalAfter).toBe(34);
  });

  it('a failed write fails the stream, as one failing _write does', async () => {
    const stream = new SlowWrites();
    const failed = new Promise<Error>((r) => stream.once('error', r));
    writeBatched(stream, [{ a: 1 }, { b: 2 }, { c: 3 }]);
    await new Promise((r) => setImmediate(r));
    stream.completeAll(new Error('stream reset'));
    expect((await failed).message).toBe('stream reset');
  });
});
