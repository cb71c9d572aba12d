import { describe, expect, it } from 'vitest';
import { helpNames, namesRead, readmeConfigNames, runHelp } from '../../../test/support/env-coverage';
import { CLI_ENV, cliEnvHelp, loadCliConfig } from './config';

describe('the CLI configuration and its help', () => {
  const read = namesRead(loadCliConfig);

  it('reads exactly the variables of its table, and no other', () => {
    expect([...read].sort()).toEqual(
      Object.values(CLI_ENV)
        .map((v) => v.name)
        .sort(),
    );
  });

  it('defaults to the local gateway and refuses a URL that is not one', () => {
    expect(loadCliConfig({}).gatewayUrl).toBe('http://127.0.0.1:8080');
    expect(loadCliConfig({ CIRRUSMQ_GATEWAY_URL: 'http://gw:1' }).gatewayUrl).toBe('http://gw:1');
    expect(() => loadCliConfig({ CIRRUSMQ_GATEWAY_URL: 'gw:1' })).toThrow(/invalid CIRRUSMQ_GATEWAY_URL="gw:1"/);
  });

  it('names every variable it reads in cirrusmq --help and in the README configuration table', () => {
    const r = runHelp('client/src/cli/main.ts');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(cliEnvHelp());
    const help = helpNames(r.stdout);
    const readme = readmeConfigNames();
    expect([...read].filter((n) => !help.has(n))).toEqual([]);
    expect([...read].filter((n) => !readme.has(n))).toEqual([]);
  }, 60_000);
});
