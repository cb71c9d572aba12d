import { describe, expect, it } from 'vitest';
import { CirrusError } from '@cirrusmq/client/protocol';
import type { SendOutcome } from '@cirrusmq/client';
import { parseMessages, resultJson, resultsJson } from './message-json';

describe('send request and answer JSON', () => {
  it('writes the results exactly as JSON.stringify of the result objects', () => {
    const a = { topic: 't', brokerName: 'broker-a', queueId: 1 };
    const b = { topic: 't', brokerName: 'broker "b"\\', queueId: 0 };
    const outcomes: SendOutcome[] = [
      { status: 'SEND_OK', messageId: 'ID1', messageQueue: a, queueOffset: 0 },
      { status: 'SEND_OK', messageId: 'ID2', messageQueue: a, queueOffset: 1 },
      { status: 'FAILED', error: new CirrusError('BROKER_UNAVAILABLE', 'gone "away"\n') },
      { status: 'FLUSH_DISK_TIMEOUT', messageId: 'ID4', messageQueue: a, queueOffset: 2 },
      { status: 'SEND_OK', messageId: 'ID5', messageQueue: b, queueOffset: 9_007_199_254_740_991 },
      { status: 'SEND_OK', messageId: 'ID6', messageQueue: { ...a }, queueOffset: 3 },
      // Ids that need escapes (a gRPC client's own id may be any text).
      { status: 'SEND_OK', messageId: 'a"b\\c\u0001é\u2028~', messageQueue: a, queueOffset: 4 },
      { status: 'SEND_OK', messageId: '', messageQueue: a, queueOffset: 5 },
    ];
    expect(resultsJson(outcomes)).toBe(JSON.stringify({ results: outcomes.map(resultJson) }));
    expect(resultsJson([])).toBe(JSON.stringify({ results: [] }));
  });

  it('keeps a UTF-8 body as text and decodes a base64 one', () => {
    const [text, bytes] = parseMessages('t', [
      { body: 'héllo', tags: 'A' },
      { body: 'aGk=', bodyEncoding: 'base64' },
    ]);
    expect(text).toEqual({ topic: 't', body: 'héllo', tags: 'A' });
    expect(Buffer.from(bytes!.body as Uint8Array).toString()).toBe('hi');
  });
});
