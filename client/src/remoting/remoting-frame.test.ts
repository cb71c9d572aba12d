import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeCancel,
  encodeEndWait,
  encodeRequestHead,
  encodeResponseHead,
  type Frame,
  FrameDecoder,
  FrameError,
  FrameType,
  type OversizeFrame,
} from './remoting-frame';

const request = (id: number, body: string) =>
  Buffer.concat([
    encodeRequestHead(id, 'POST', '/v1/consume/ack?x=1', { 'content-type': 'application/json', 'content-length': '99' }, Buffer.byteLength(body)),
    Buffer.from(body),
  ]);
const response = (id: number, status: number, body: Buffer) =>
  Buffer.concat([encodeResponseHead(id, status, { 'content-type': 'application/octet-stream', 'x-next-offset': ['7', '8'] }, body.length), body]);

describe('remoting frames', () => {
  it('a request, an answer, a cancel and an end-wait read back as written (content-length is left to the frame)', () => {
    expect(decodeFrame(request(0xfffffffe, '{"a":"é"}'))).toEqual({
      type: FrameType.REQUEST,
      id: 0xfffffffe,
      method: 'POST',
      target: '/v1/consume/ack?x=1',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"a":"é"}'),
    });
    const body = Buffer.from([0, 1, 2, 255]);
    expect(decodeFrame(response(3, 404, body))).toEqual({
      type: FrameType.RESPONSE,
      id: 3,
      status: 404,
      headers: { 'content-type': 'application/octet-stream', 'x-next-offset': ['7', '8'] },
      body,
    });
    expect(decodeFrame(encodeCancel(42))).toEqual({ type: FrameType.CANCEL, id: 42 });
    expect(decodeFrame(encodeEndWait(43))).toEqual({ type: FrameType.END_WAIT, id: 43 });
    expect(() => decodeFrame(Buffer.concat([encodeEndWait(43), Buffer.from([0])]))).toThrow(FrameError);
  });

  it('a stream split at every byte, or all of it in one read, gives the same frames in order', () => {
    const frames = [request(1, 'one'), response(2, 200, Buffer.alloc(700, 7)), encodeCancel(3), request(4, '')];
    const stream = Buffer.concat(frames);
    // Compared as text: a deep equality of Buffers a thousand times over is slow.
    const text = (fs: (Frame | OversizeFrame)[]) => JSON.stringify(fs);
    const whole = new FrameDecoder(1 << 20).push(stream);
    expect(whole.map((f) => f.id)).toEqual([1, 2, 3, 4]);
    const expected = text(whole);
    let mismatches = 0;
    for (let cut = 1; cut < stream.length; cut++) {
      const d = new FrameDecoder(1 << 20);
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      if (text(got) !== expected || d.pending() !== 0) mismatches++;
    }
    expect(mismatches).toBe(0);
    // One byte a read.
    const d = new FrameDecoder(1 << 20);
    const got: (Frame | OversizeFrame)[] = [];
    for (let i = 0; i < stream.length; i++) got.push(...d.push(stream.subarray(i, i + 1)));
    expect(text(got)).toBe(expected);
  });

  it('a frame over the limit: an error from its length field alone, or skipped and reported when asked to', () => {
    const big = request(9, 'x'.repeat(2000));
    expect(() => new FrameDecoder(1000).push(big.subarray(0, 4))).toThrow(FrameError);
    const d = new FrameDecoder(1000, true);
    const stream = Buffer.concat([big, request(10, 'small')]);
    const got: (Frame | OversizeFrame)[] = [];
    for (let i = 0; i < stream.length; i += 333) got.push(...d.push(stream.subarray(i, i + 333)));
    expect(got).toMatchObject([
      { type: 'oversize', id: 9, bytes: big.length },
      { type: FrameType.REQUEST, id: 10, body: Buffer.from('small') },
    ]);
  });

  it('garbage is a FrameError: an unknown type, a length below the fixed part, a field past the frame, an HTTP request', () => {
    const bad = [
      Buffer.from([0, 0, 0, 5, 9, 0, 0, 0, 1]),
      Buffer.from([0, 0, 0, 1, 1]),
      Buffer.from([0, 0, 0, 7, 1, 0, 0, 0, 1, 200, 80, 79]),
      Buffer.from([0, 0, 0, 6, 3, 0, 0, 0, 1, 0]),
    ];
    for (const b of bad) expect(() => new FrameDecoder(1 << 20).push(b)).toThrow(FrameError);
    // "GET " read as a length is 1.1 GB: over any limit.
    expect(() => new FrameDecoder(1 << 20).push(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toThrow(/exceeds/);
  });
});
