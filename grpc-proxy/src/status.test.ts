import { CirrusError, ErrorCodes, type ErrorCode } from '@cirrusmq/client/protocol';
import { describe, expect, it } from 'vitest';
import { Code } from 'rocketmq-client-nodejs/proto/apache/rocketmq/v2/definition_pb';
import { RmqStatusError, statusOf } from './status';

describe('RocketMQ Codes for CirrusMQ errors', () => {
  it('maps every CirrusMQ error code to a Code of definition.proto', () => {
    for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
      const status = statusOf(new CirrusError(code, 'x'));
      expect(Object.keys(Code), `${code} -> ${status.code}`).toContain(status.code);
      expect(status.code).not.toBe('OK');
    }
  });

  it('answers the codes the official clients act on', () => {
    expect(statusOf(new CirrusError('TOPIC_NOT_FOUND', 'x')).code).toBe('TOPIC_NOT_FOUND');
    expect(statusOf(new CirrusError('INVALID_TOPIC', 'x')).code).toBe('ILLEGAL_TOPIC');
    expect(statusOf(new CirrusError('PAYLOAD_TOO_LARGE', 'x')).code).toBe('MESSAGE_BODY_TOO_LARGE');
    expect(statusOf(new CirrusError('RECEIPT_HANDLE_EXPIRED', 'x')).code).toBe('INVALID_RECEIPT_HANDLE');
    expect(statusOf(new CirrusError('TIMEOUT', 'x')).code).toBe('PROXY_TIMEOUT');
    // A throttled upstream is flow control: the clients back off on TOO_MANY_REQUESTS.
    expect(statusOf(new CirrusError('SERVICE_NOT_AVAILABLE', 'busy', { status: 429 })).code).toBe('TOO_MANY_REQUESTS');
    expect(statusOf(new RmqStatusError('FORBIDDEN', 'no')).code).toBe('FORBIDDEN');
    expect(statusOf(new Error('boom'))).toEqual({ code: 'INTERNAL_ERROR', message: 'boom' });
  });
});
