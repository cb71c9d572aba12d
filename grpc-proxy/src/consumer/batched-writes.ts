/**
 * A server stream's responses handed to HTTP/2 together. grpc-js's server stream is a Node
 * Writable with only `_write`, so each response waits for the previous one's HTTP/2 write to
 * complete: a ReceiveMessage of 32 messages took 34 event-loop turns and about as many socket
 * writes. With `_writev` the responses buffered meanwhile go down in one turn: each is still
 * its own gRPC message (serialized and framed by grpc-js's `_write`), in order, and the
 * Writable still runs `_final` (the status trailers) only after every write completed.
 */
import type { Writable } from 'node:stream';

type WriteFn = (chunk: unknown, encoding: BufferEncoding, callback: (error?: Error | null) => void) => void;
type WritevFn = (chunks: { chunk: unknown; encoding: BufferEncoding }[], callback: (error?: Error | null) => void) => void;

/** Writes `responses` in order, as one batch; the caller then ends the call as usual. */
export function writeBatched(call: Writable, responses: readonly object[]): void {
  const stream = call as Writable & { _write: WriteFn; _writev?: WritevFn };
  if (!stream._writev) stream._writev = (chunks, callback) => writevAll(stream, chunks, callback);
  stream.cork();
  for (const r of responses) stream.write(r);
  stream.uncork();
}

function writevAll(stream: { _write: WriteFn }, chunks: { chunk: unknown; encoding: BufferEncoding }[], callback: (error?: Error | null) => void): void {
  let left = chunks.length;
  let failed: Error | null = null;
  const done = (error?: Error | null) => {
    if (error && !failed) failed = error;
    if (--left === 0) callback(failed);
  };
  for (const { chunk, encoding } of chunks) stream._write(chunk, encoding, done);
}
