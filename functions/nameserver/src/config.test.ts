import { describe, expect, it } from 'vitest';
import { loadConfig } from './config';

describe('loadConfig', () => {
  it('defaults to the embedded store on RocketMQ port 9876', () => {
    expect(loadConfig({})).toEqual({
      host: '127.0.0.1',
      port: 9876,
      dataDir: './.cirrusmq-data',
      backend: 'embedded',
      aws: { endpoint: undefined, region: 'us-east-1', credentials: undefined },
      tableName: 'cirrusmq-nameserver',
      brokerExpiryMs: 120_000,
      sweepIntervalMs: 10_000,
      logLevel: 'info',
    });
  });

  it('picks DynamoDB, with dummy credentials, when an emulator endpoint is set', () => {
    const c = loadConfig({ AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' });
    expect(c.backend).toBe('dynamodb');
    expect(c.aws).toEqual({ endpoint: 'http://127.0.0.1:4566', region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  });

  it('keeps the env credentials when there are some', () => {
    const c = loadConfig({ AWS_ENDPOINT_URL: 'http://localhost:4566', AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 's' });
    expect(c.aws.credentials).toBeUndefined();
  });

  it('picks DynamoDB inside Lambda, and honours an explicit backend', () => {
    expect(loadConfig({ AWS_LAMBDA_FUNCTION_NAME: 'ns' }).backend).toBe('dynamodb');
    expect(loadConfig({ AWS_LAMBDA_FUNCTION_NAME: 'ns', CIRRUSMQ_ROUTE_BACKEND: 'embedded' }).backend).toBe('embedded');
  });

  it('reads every variable', () => {
    const c = loadConfig({
      CIRRUSMQ_NAMESRV_HOST: '0.0.0.0',
      CIRRUSMQ_NAMESRV_PORT: '0',
      CIRRUSMQ_DATA_DIR: '/data',
      CIRRUSMQ_ROUTE_BACKEND: 'dynamodb',
      AWS_REGION: 'eu-west-1',
      CIRRUSMQ_TABLE_NAME: 'ns-table',
      CIRRUSMQ_BROKER_EXPIRY_MS: '5000',
      CIRRUSMQ_SWEEP_INTERVAL_MS: '100',
      CIRRUSMQ_LOG_LEVEL: 'debug',
    });
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 0,
      dataDir: '/data',
      backend: 'dynamodb',
      aws: { region: 'eu-west-1' },
      tableName: 'ns-table',
      brokerExpiryMs: 5000,
      sweepIntervalMs: 100,
      logLevel: 'debug',
    });
  });

  it.each([
    ['CIRRUSMQ_NAMESRV_PORT', '70000'],
    ['CIRRUSMQ_NAMESRV_PORT', 'http'],
    ['CIRRUSMQ_ROUTE_BACKEND', 'redis'],
    ['CIRRUSMQ_BROKER_EXPIRY_MS', '0'],
    ['CIRRUSMQ_SWEEP_INTERVAL_MS', '-5'],
    ['CIRRUSMQ_LOG_LEVEL', 'verbose'],
    ['CIRRUSMQ_TABLE_NAME', 'a b'],
    ['AWS_ENDPOINT_URL', 'localhost:4566'],
  ])('rejects %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`invalid ${name}=`));
  });
});
