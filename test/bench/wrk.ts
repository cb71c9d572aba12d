/**
 * wrk as the HTTP load generator: a C client costs the 2-core machine far less CPU than a
 * Node one, so more of it goes to the system under test. Needs wrk (apt-get install wrk).
 * produce-wrk.lua checks every answer: only results with status SEND_OK count.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ProduceResult } from './produce-worker';

const run = promisify(execFile);
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'produce-wrk.lua');

export function hasWrk(): boolean {
  return spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status === 0;
}

/**
 * POSTs `body` (a JSON batch of `msgsPerRequest` messages) over `connections` keep-alive
 * connections for `durationMs`, one wrk thread. Requests still unanswered when wrk stops are
 * not counted (wrk's own rule), and its duration is the time it ran.
 */
export async function wrkPost(url: string, body: string, connections: number, durationMs: number, msgsPerRequest: number): Promise<ProduceResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-wrk-'));
  const bodyFile = path.join(dir, 'body.json');
  fs.writeFileSync(bodyFile, body);
  try {
    const seconds = Math.max(1, Math.round(durationMs / 1000));
    // bash's `times` prints the CPU of the finished child (wrk) on its second line.
    const { stdout } = await run(
      'bash',
      ['-c', 'wrk "$@" && times', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', SCRIPT, url],
      { env: { ...process.env, WRK_BODY_FILE: bodyFile, WRK_MSGS_PER_REQUEST: String(msgsPerRequest) } },
    );
    const line = stdout.split('\n').find((l) => l.startsWith('{"ok"'));
    if (!line) throw new Error(`wrk printed no result: ${stdout}`);
    const r = JSON.parse(line) as {
      ok: number;
      failed: number;
      not200: number;
      requests: number;
      durationUs: number;
      socketErrors: number;
      p50Us: number;
      p99Us: number;
      p999Us: number;
      sample: string;
    };
    const times = stdout.trim().split('\n').at(-1)!;
    const cpu = [...times.matchAll(/(\d+)m([\d.]+)s/g)].reduce((a, m) => a + Number(m[1]) * 60 + Number(m[2]), 0);
    const failed = r.failed + r.socketErrors * msgsPerRequest;
    return {
      type: 'result',
      ok: r.ok,
      okAll: r.ok,
      failed,
      firstFailure: failed > 0 ? `${r.not200} non-200 answers, ${r.socketErrors} socket errors/timeouts; ${r.sample}` : undefined,
      elapsedMs: r.durationUs / 1000,
      p50Ms: r.p50Us / 1000,
      p99Ms: r.p99Us / 1000,
      p999Ms: r.p999Us / 1000,
      samples: r.requests,
      maxLagMs: 0,
      clientCpuSec: cpu,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
