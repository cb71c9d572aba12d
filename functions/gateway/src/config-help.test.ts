import { describe, expect, it } from 'vitest';
import { itCoversItsConfig, namesRead } from '../../../test/support/env-coverage';
import { GATEWAY_ENV, gatewayHelp, loadGatewayConfig } from './config';

describe('the gateway configuration and its help', () => {
  const read = namesRead(loadGatewayConfig);

  itCoversItsConfig(read, GATEWAY_ENV, gatewayHelp, 'functions/gateway/src/main.ts');

  it('refuses bad values, naming each variable in one error', () => {
    expect(() => loadGatewayConfig({ CIRRUSMQ_GATEWAY_PORT: '70000', CIRRUSMQ_SEND_TIMEOUT_MS: '0', CIRRUSMQ_LOG_LEVEL: 'loud' })).toThrow(
      /CIRRUSMQ_GATEWAY_PORT.*CIRRUSMQ_SEND_TIMEOUT_MS.*CIRRUSMQ_LOG_LEVEL/,
    );
  });
});
