/**
 * A preload for bench processes (node --import test/bench/loop-trace.mjs): once a second it
 * appends to $CIRRUSMQ_LOOP_TRACE_DIR/<entry>[-<broker>]-<pid>.jsonl the second's event-loop
 * delay (max, p99; monitorEventLoopDelay at 1 ms), GC pauses (total, count, longest,
 * mark-compacts), CPU ms, and the count and wall time of synchronous fs calls and the count of
 * thread-pool fs calls. bench:produce --loop-trace DIR puts it in every process and prints a
 * summary (loop-trace-summary.ts). Without the variable it does nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';

const dir = process.env.CIRRUSMQ_LOOP_TRACE_DIR;
if (dir) {
  const broker = process.env.CIRRUSMQ_BROKER_NAME;
  // <package>/src/main.ts is named by its package (broker-node, nameserver, gateway).
  const script = process.argv[1] ?? 'node';
  const base = path.basename(script).replace(/\.[cm]?[tj]s$/, '');
  const entry = base === 'main' ? path.basename(path.dirname(path.dirname(script))) : base;
  const file = path.join(dir, `${entry}${broker ? `-${broker}` : ''}-${process.pid}.jsonl`);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const gc = { ms: 0, n: 0, max: 0, markCompacts: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.ms += e.duration;
      gc.n++;
      gc.max = Math.max(gc.max, e.duration);
      // NODE_PERFORMANCE_GC_MAJOR
      if (e.detail?.kind === 4) gc.markCompacts++;
    }
  }).observe({ entryTypes: ['gc'] });
  // Wall time in synchronous fs calls: on a busy machine it is where the kernel preempts a writer.
  const syncFs = { n: 0, ms: 0, max: 0 };
  for (const fn of ['writeSync', 'writevSync', 'readSync', 'fdatasyncSync', 'fsyncSync']) {
    const orig = fs[fn];
    fs[fn] = function (...args) {
      const t0 = performance.now();
      try {
        return orig.apply(this, args);
      } finally {
        const d = performance.now() - t0;
        syncFs.n++;
        syncFs.ms += d;
        syncFs.max = Math.max(syncFs.max, d);
      }
    };
  }
  // Thread-pool fs calls: each wakes a pool thread, which can preempt the event loop.
  let poolFs = 0;
  for (const fn of ['write', 'writev', 'read', 'fdatasync', 'fsync']) {
    const orig = fs[fn];
    fs[fn] = function (...args) {
      poolFs++;
      return orig.apply(this, args);
    };
  }
  let cpu = process.cpuUsage();
  const round = (x) => Math.round(x * 10) / 10;
  setInterval(() => {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const line = {
      t: Date.now(),
      cpuMs: Math.round((used.user + used.system) / 1000),
      loopMaxMs: round(delay.max / 1e6),
      loopP99Ms: round(delay.percentile(99) / 1e6),
      gcMs: round(gc.ms),
      gcCount: gc.n,
      gcMaxMs: round(gc.max),
      markCompacts: gc.markCompacts,
      syncFsCount: syncFs.n,
      syncFsMs: round(syncFs.ms),
      syncFsMaxMs: round(syncFs.max),
      poolFsCount: poolFs,
    };
    delay.reset();
    Object.assign(gc, { ms: 0, n: 0, max: 0, markCompacts: 0 });
    Object.assign(syncFs, { n: 0, ms: 0, max: 0 });
    poolFs = 0;
    fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
  }, 1000).unref();
}
