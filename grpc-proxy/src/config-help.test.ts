import { describe, expect, it } from 'vitest';
import { itCoversItsConfig, namesRead } from '../../test/support/env-coverage';
import { loadProxyConfig, PROXY_ENV, proxyHelp } from './config';

describe('the gRPC proxy configuration and its help', () => {
  const read = namesRead(loadProxyConfig);

  itCoversItsConfig(read, PROXY_ENV, proxyHelp, 'grpc-proxy/src/main.ts');

  it('defaults to RocketMQ proxy port 8081 and refuses bad values, naming each variable in one error', () => {
    expect(loadProxyConfig({}).port).toBe(8081);
    expect(() => loadProxyConfig({ CIRRUSMQ_GRPC_PROXY_PORT: '70000', CIRRUSMQ_GROUP_TTL_MS: '-1', CIRRUSMQ_LOG_LEVEL: 'loud' })).toThrow(
      /CIRRUSMQ_GRPC_PROXY_PORT.*CIRRUSMQ_GROUP_TTL_MS.*CIRRUSMQ_LOG_LEVEL/,
    );
  });
});
