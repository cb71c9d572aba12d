/** The `cirrusmq` CLI run from its TypeScript entry against a gateway, as a user runs it. */
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(gatewayUrl: string, args: string[]): Promise<CliRun> {
  const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', 'client/src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, CIRRUSMQ_GATEWAY_URL: gatewayUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
