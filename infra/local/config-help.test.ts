import { describe, expect, it } from 'vitest';
import { itCoversItsConfig, namesRead } from '../../test/support/env-coverage';
import { LAUNCHER_ENV, launcherHelp, loadLauncherOptions, loadLocalClusterConfig } from './config';

describe('the launcher configuration and its help', () => {
  const read = namesRead((env) => {
    loadLocalClusterConfig(env);
    loadLauncherOptions(env);
  });

  itCoversItsConfig(read, LAUNCHER_ENV, launcherHelp, 'infra/local/start-cluster.ts');

  it('keeps the old values and refuses bad ones in one error', () => {
    expect(loadLauncherOptions({ CIRRUSMQ_AUTO_RESTART: 'off' }).autoRestart).toBe(false);
    expect(loadLauncherOptions({}).autoRestart).toBe(true);
    expect(loadLauncherOptions({ AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' }).awsEndpoint).toBe('http://127.0.0.1:4566');
    expect(() => loadLocalClusterConfig({ CIRRUSMQ_BROKERS: 'a', CIRRUSMQ_NAMESRV_PORT: '0' })).toThrow(/CIRRUSMQ_BROKERS entries.*CIRRUSMQ_NAMESRV_PORT/);
    expect(() => loadLauncherOptions({ CIRRUSMQ_AUTO_RESTART: 'maybe' })).toThrow(/invalid CIRRUSMQ_AUTO_RESTART="maybe"/);
  });
});
