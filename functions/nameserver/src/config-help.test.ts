import { describe, expect, it } from 'vitest';
import { helpNames, namesRead, readmeConfigNames, runHelp } from '../../../test/support/env-coverage';
import { loadConfig, NAMESRV_ENV, nameServerHelp } from './config';

const ENVS = [{}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }];

describe('the NameServer configuration and its help', () => {
  const read = namesRead(loadConfig, ENVS);

  it('reads exactly the variables of its table, and no other', () => {
    expect([...read].sort()).toEqual(
      Object.values(NAMESRV_ENV)
        .map((v) => v.name)
        .sort(),
    );
  });

  it('names every variable it reads in --help and in the README configuration table', () => {
    const help = helpNames(nameServerHelp());
    const readme = readmeConfigNames();
    expect([...read].filter((n) => !help.has(n))).toEqual([]);
    expect([...read].filter((n) => !readme.has(n))).toEqual([]);
  });

  it('prints that help from main.ts --help and exits 0 without starting', () => {
    const r = runHelp('functions/nameserver/src/main.ts');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd()).toBe(nameServerHelp().trimEnd());
  }, 60_000);
});
