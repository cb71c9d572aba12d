/**
 * wrk as the HTTP load generator: a C client costs the 2-core machine far less CPU than a
 * Node one, so more of it goes to the system under test. Needs wrk (apt-get install wrk).
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { LoadResult } from './stats';

const run = promisify(execFile);

export function hasWrk(): boolean {
  return spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status === 0;
}

/** POSTs `body` as JSON over `connections` keep-alive connections for `durationMs`. */
export async function wrkPost(url: string, body: string, connections: number, durationMs: number, msgsPerRequest: number): Promise<LoadResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-wrk-'));
  const bodyFile = path.join(dir, 'body.json');
  const script = path.join(dir, 'post.lua');
  fs.writeFileSync(bodyFile, body);
  fs.writeFileSync(
    script,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nlocal f = io.open("${bodyFile}", "rb")\nwrk.body = f:read("*all")\nf:close()\n`,
  );
  try {
    const seconds = Math.max(1, Math.round(durationMs / 1000));
    const { stdout } = await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', script, url]);
    const requestsPerSec = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
    const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
    const requests = Number(/(\d+) requests in/.exec(stdout)?.[1]);
    return {
      msgsPerSec: requestsPerSec * msgsPerRequest * (requests > 0 ? (requests - errors) / requests : 0),
      p50Ms: latencyMs(stdout, '50%'),
      p99Ms: latencyMs(stdout, '99%'),
      requests,
      messages: (requests - errors) * msgsPerRequest,
      errors,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function latencyMs(out: string, pct: string): number {
  const m = new RegExp(`^\\s+${pct}\\s+([\\d.]+)(us|ms|s)$`, 'm').exec(out);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}
