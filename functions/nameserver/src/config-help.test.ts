import { describe } from 'vitest';
import { itCoversItsConfig, namesRead } from '../../../test/support/env-coverage';
import { loadConfig, NAMESRV_ENV, nameServerHelp } from './config';

const ENVS = [{}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }];

describe('the NameServer configuration and its help', () => {
  const read = namesRead(loadConfig, ENVS);

  itCoversItsConfig(read, NAMESRV_ENV, nameServerHelp, 'functions/nameserver/src/main.ts');
});
