import { describe, expect, it } from 'vitest';
import { helpNames, namesRead, readmeConfigNames, runHelp } from '../../test/support/env-coverage';
import { LAUNCHER_ENV, launcherHelp, loadLauncherOptions, loadLocalClusterConfig } from './config';

describe('the launcher configuration and its help', () => {
  const read = namesRead((env) => {
    loadLocalClusterConfig(env);
    loadLauncherOptions(env);
  });

  it('reads exactly the variables of its table, and no other', () => {
    expect([...read].sort()).toEqual(
      Object.values(LAUNCHER_ENV)
        .map((v) => v.name)
        .sort(),
    );
  });

  it('names every variable it reads in --help and in the README configuration table', () => {
    const help = helpNames(launcherHelp());
    const readme = readmeConfigNames();
    expect([...read].filter((n) => !help.has(n))).toEqual([]);
    expect([...read].filter((n) => !readme.has(n))).toEqual([]);
  });

  it('keeps the old values and refuses bad ones in one error', () => {
    expect(loadLauncherOptions({ CIRRUSMQ_AUTO_RESTART: 'off' }).autoRestart).toBe(false);
    expect(loadLauncherOptions({}).autoRestart).toBe(true);
    expect(loadLauncherOptions({ AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' }).awsEndpoint).toBe('http://127.0.0.1:4566');
    expect(() => loadLocalClusterConfig({ CIRRUSMQ_BROKERS: 'a', CIRRUSMQ_NAMESRV_PORT: '0' })).toThrow(/CIRRUSMQ_BROKERS entries.*CIRRUSMQ_NAMESRV_PORT/);
    expect(() => loadLauncherOptions({ CIRRUSMQ_AUTO_RESTART: 'maybe' })).toThrow(/invalid CIRRUSMQ_AUTO_RESTART="maybe"/);
  });

  it('prints that help from start-cluster.ts --help and exits 0 without starting', () => {
    const r = runHelp('infra/local/start-cluster.ts');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd()).toBe(launcherHelp().trimEnd());
  }, 60_000);
});
