import { describe, expect, it } from 'vitest';
import { helpNames, namesRead, readmeConfigNames, runHelp } from '../../../test/support/env-coverage';
import { GATEWAY_ENV, gatewayHelp, loadGatewayConfig } from './config';

describe('the gateway configuration and its help', () => {
  const read = namesRead(loadGatewayConfig);

  it('reads exactly the variables of its table, and no other', () => {
    expect([...read].sort()).toEqual(
      Object.values(GATEWAY_ENV)
        .map((v) => v.name)
        .sort(),
    );
  });

  it('names every variable it reads in --help and in the README configuration table', () => {
    const help = helpNames(gatewayHelp());
    const readme = readmeConfigNames();
    expect([...read].filter((n) => !help.has(n))).toEqual([]);
    expect([...read].filter((n) => !readme.has(n))).toEqual([]);
  });

  it('refuses bad values, naming each variable in one error', () => {
    expect(() => loadGatewayConfig({ CIRRUSMQ_GATEWAY_PORT: '70000', CIRRUSMQ_SEND_TIMEOUT_MS: '0', CIRRUSMQ_LOG_LEVEL: 'loud' })).toThrow(
      /CIRRUSMQ_GATEWAY_PORT.*CIRRUSMQ_SEND_TIMEOUT_MS.*CIRRUSMQ_LOG_LEVEL/,
    );
  });

  it('prints that help from main.ts --help and exits 0 without starting', () => {
    const r = runHelp('functions/gateway/src/main.ts');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd()).toBe(gatewayHelp().trimEnd());
  }, 60_000);
});
