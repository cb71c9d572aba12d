import type { TestProject } from 'vitest/node';
import { hasMotoServer, motoEndpoint, startMoto } from './moto';

declare module 'vitest' {
  export interface ProvidedContext {
    /** moto_server's URL, or '' when it is not installed (outside CI only). */
    motoEndpoint: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const given = motoEndpoint();
  if (given) {
    project.provide('motoEndpoint', given);
    return () => {};
  }
  if (!hasMotoServer()) {
    if (process.env.CI === 'true') throw new Error('moto_server is not on PATH: the AWS-path tests cannot run under CI');
    console.warn('moto_server not found: the DynamoDB and S3 tests will be skipped (they fail under CI=true)');
    project.provide('motoEndpoint', '');
    return () => {};
  }
  const moto = await startMoto();
  project.provide('motoEndpoint', moto.endpoint);
  return () => {
    moto.process.kill('SIGTERM');
  };
}
