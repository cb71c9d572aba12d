/**
 * moto_server for the AWS-path tests. .ci/run (or the developer) may start one and export
 * MOTO_ENDPOINT; otherwise global-setup starts one on a free port. Under CI=true a missing
 * moto_server fails the run instead of skipping those tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port';

export const MOTO_ENV = 'MOTO_ENDPOINT';

export function motoEndpoint(): string | undefined {
  return process.env[MOTO_ENV] || undefined;
}

export function hasMotoServer(): boolean {
  return spawnSync('sh', ['-c', 'command -v moto_server'], { stdio: 'ignore' }).status === 0;
}

export async function startMoto(): Promise<{ endpoint: string; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.status < 500) return { endpoint, process: child };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`moto_server did not start on port ${port}`);
}

/** Credentials and region for the AWS SDK against moto: any values are accepted. */
export function motoClientConfig(endpoint: string) {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
}

/** Clears every table and bucket moto holds. */
export async function resetMoto(endpoint: string): Promise<void> {
  await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
}
