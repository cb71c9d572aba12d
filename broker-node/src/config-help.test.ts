import { describe, expect, it } from 'vitest';
import { helpNames, namesRead, readmeConfigNames, runHelp } from '../../test/support/env-coverage';
import { BROKER_ENV, brokerHelp, loadBrokerConfig } from './config';

// Branches that read more variables: the s3 tier (endpoint, credentials), SYNC_FLUSH.
const ENVS = [
  {},
  { CIRRUSMQ_TIER: 's3', CIRRUSMQ_TIER_BUCKET: 'bucket', CIRRUSMQ_TABLE_NAME: 'table', AWS_ENDPOINT_URL: 'http://127.0.0.1:1' },
  { CIRRUSMQ_FLUSH_DISK_TYPE: 'SYNC_FLUSH' },
];

describe('the broker configuration and its help', () => {
  const read = namesRead(loadBrokerConfig, ENVS);

  it('reads exactly the variables of its table, and no other', () => {
    expect([...read].sort()).toEqual(
      Object.values(BROKER_ENV)
        .map((v) => v.name)
        .sort(),
    );
  });

  it('names every variable it reads in --help and in the README configuration table', () => {
    const help = helpNames(brokerHelp());
    const readme = readmeConfigNames();
    expect([...read].filter((n) => !help.has(n))).toEqual([]);
    expect([...read].filter((n) => !readme.has(n))).toEqual([]);
  });

  it('shows the defaults the parser uses', () => {
    const c = loadBrokerConfig({});
    const help = brokerHelp();
    expect(help).toMatch(new RegExp(`CIRRUSMQ_FLUSH_INTERVAL_MS .*\\(${c.flushIntervalMs}\\)`));
    expect(help).toMatch(new RegExp(`CIRRUSMQ_CLEAN_INTERVAL_MS .*\\(${c.cleanIntervalMs}\\)`));
    expect(help).toMatch(new RegExp(`CIRRUSMQ_INDEX_HASH_SLOTS .*\\(${c.indexHashSlotNum}\\)`));
  });

  it('prints that help from main.ts --help and exits 0 without starting', () => {
    const r = runHelp('broker-node/src/main.ts');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd()).toBe(brokerHelp().trimEnd());
  }, 60_000);
});
