/**
 * npm run bench:grpc-floor [-- --seconds 5 --runs 2 --processes 2 --inflight 64]
 *
 * What one SendMessage costs grpc-js itself, with nothing behind it: a server process that
 * serves the same MessagingService definition as the proxy (grpc-proxy/src/proto.ts), with its
 * server options, and answers every SendMessage at once with an OK entry per message, driven by bench:grpc's
 * lean client workers (grpc-worker.ts lean-send, one message a call, and lean-send-batch, 32)
 * in their own processes. Its server CPU per call is the floor under the proxy's: what the
 * proxy spends above it is its own work (checks, the broker request, metrics); what the lean
 * client spends is grpc-js's client side, the floor under any gRPC client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { messagingServiceDefinition } from '../../grpc-proxy/src/proto';
import { SERVER_OPTIONS } from '../../grpc-proxy/src/server';
import type { GrpcWorkerResult, GrpcWorkerSpec } from './grpc-worker';
import { cpuSeconds } from './proc-cpu';
import { fmt, median } from './stats';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');

if (process.argv[2] === 'serve') await serve();
else await main();

/** The stub server: its port on stdout, then answers until killed. */
async function serve(): Promise<void> {
  // The proxy's own server options: the floor under the proxy, not under some other grpc-js setup.
  const server = new grpc.Server(SERVER_OPTIONS);
  server.addService(messagingServiceDefinition(), {
    SendMessage: (call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) => {
      const entries = (call.request.messages ?? []).map((m: any, i: number) => ({
        status: { code: 'OK', message: 'OK' },
        message_id: m.system_properties?.message_id ?? '',
        transaction_id: '',
        offset: i,
        recall_handle: '',
      }));
      callback(null, { status: { code: 'OK', message: 'OK' }, entries });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  process.stdout.write(`${port}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      runs: { type: 'string', default: '2' },
      processes: { type: 'string', default: '2' },
      inflight: { type: 'string', default: '64' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('npm run bench:grpc-floor -- [--seconds S (5)] [--runs N (2)] [--processes P (2)] [--inflight M (64)]');
    return;
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cirrusmq-bench-grpc-floor-'));
  const server = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', fileURLToPath(import.meta.url), 'serve'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = Number(await new Promise<string>((resolve) => readline.createInterface({ input: server.stdout! }).once('line', resolve)));
    const load = () =>
      os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(' ');
    console.log(
      `bench:grpc-floor: stub MessagingService (answers SendMessage at once), ${values.processes} lean client processes, ${values.inflight} messages in flight each; load average ${load()}`,
    );
    const modes = ['lean-send', 'lean-send-batch'] as const;
    const out: Record<string, { calls: number; server: number; client: number }[]> = { 'lean-send': [], 'lean-send-batch': [] };
    for (const mode of modes) await run(mode, 2000); // warm-up
    for (let i = 1; i <= Number(values.runs); i++) {
      for (const mode of modes) {
        const r = await run(mode, Number(values.seconds) * 1000);
        out[mode]!.push(r);
        console.log(
          `run ${i} ${mode.padEnd(16)} ${fmt(r.calls)} calls/s, server CPU ${fmt(r.server, 1)} µs/call, client CPU ${fmt(r.client, 1)} µs/call   load ${load()}`,
        );
      }
    }
    for (const mode of modes) {
      const rs = out[mode]!;
      console.log(
        `median ${mode.padEnd(16)} ${fmt(median(rs.map((r) => r.calls)))} calls/s, server CPU ${fmt(median(rs.map((r) => r.server)), 1)} µs/call, client CPU ${fmt(median(rs.map((r) => r.client)), 1)} µs/call`,
      );
    }

    async function run(mode: GrpcWorkerSpec['mode'], durationMs: number) {
      let n = 0;
      const workers = Array.from({ length: Number(values.processes) }, () => {
        const resultFile = path.join(dataDir, `w-${mode}-${++n}-${Date.now()}.json`);
        const spec: GrpcWorkerSpec = {
          mode,
          address: `127.0.0.1:${port}`,
          topic: 'floor',
          group: 'unused',
          durationMs,
          batch: 32,
          inflight: Number(values.inflight),
          bodyBytes: 1024,
          awaitMs: 1000,
          resultFile,
        };
        return worker(spec);
      });
      await Promise.all(workers.map((w) => w.next('ready')));
      const cpu0 = cpuSeconds([server.pid!]);
      const done = workers.map((w) => w.next('result'));
      for (const w of workers) w.child.stdin!.write('go\n');
      const rs = (await Promise.all(done)).map((_, i) => JSON.parse(fs.readFileSync(workers[i]!.resultFile, 'utf8')) as GrpcWorkerResult);
      const cpu1 = cpuSeconds([server.pid!]);
      const calls = rs.reduce((a, r) => a + r.callMs.length, 0);
      const elapsed = Math.max(...rs.map((r) => r.elapsedMs)) / 1000;
      if (rs.some((r) => r.errors > 0))
        console.log(
          `  ${mode}: errors, e.g. ${rs
            .flatMap((r) => r.errorSamples)
            .slice(0, 2)
            .join(' | ')}`,
        );
      return { calls: calls / elapsed, server: ((cpu1 - cpu0) / calls) * 1e6, client: rs.reduce((a, r) => a + r.clientCpuUs, 0) / calls };
    }
  } finally {
    server.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function worker(spec: GrpcWorkerSpec): { child: ChildProcess; resultFile: string; next(type: string): Promise<unknown> } {
  const child = spawn(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', path.join(HERE, 'grpc-worker.ts'), JSON.stringify(spec)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`worker ${spec.mode} exited with ${code}`))));
  exited.catch(() => undefined);
  return {
    child,
    resultFile: spec.resultFile,
    next: (type) =>
      Promise.race([
        new Promise((resolve) => {
          const on = (line: string) => {
            if (line.includes(`"type":"${type}"`)) {
              lines.off('line', on);
              resolve(undefined);
            }
          };
          lines.on('line', on);
        }),
        exited,
      ]),
  };
}
