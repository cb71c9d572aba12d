/**
 * The summary of a loop-trace directory (loop-trace.mjs): per process, over its busy seconds
 * (≥ 100 ms of CPU), CPU, event-loop delay, GC, synchronous fs wall time and thread-pool fs
 * calls. A stall that shows in idle processes too (the NameServer, an unused gateway) was the
 * machine's, not the process's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fmt } from './stats';

interface TraceSecond {
  cpuMs: number;
  loopMaxMs: number;
  loopP99Ms: number;
  gcMs: number;
  gcCount: number;
  gcMaxMs: number;
  markCompacts: number;
  syncFsMs: number;
  syncFsMaxMs: number;
  poolFsCount: number;
}

export function loopTraceSummary(dir: string): string[] {
  const lines = [
    `loop trace (${dir}), per process over its busy seconds: CPU ms/s, event-loop delay max (top 3) ms, GC ms/s, longest GC ms, mark-compacts, sync fs wall ms/s (longest call ms), thread-pool fs calls/s`,
  ];
  for (const name of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()) {
    const all = fs
      .readFileSync(path.join(dir, name), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TraceSecond);
    const busy = all.filter((s) => s.cpuMs >= 100);
    const seconds = busy.length > 0 ? busy : all;
    if (seconds.length === 0) continue;
    const per = (f: (s: TraceSecond) => number) => seconds.reduce((a, s) => a + f(s), 0) / seconds.length;
    const top = seconds
      .map((s) => s.loopMaxMs)
      .sort((a, b) => b - a)
      .slice(0, 3);
    lines.push(
      `  ${name.replace(/\.jsonl$/, '').padEnd(34)} ${busy.length > 0 ? `${busy.length} busy s` : `idle ${all.length} s`}: CPU ${fmt(per((s) => s.cpuMs))}, loop max ${top.map((x) => fmt(x, 1)).join('/')}, ` +
        `GC ${fmt(
          per((s) => s.gcMs),
          1,
        )} (longest ${fmt(Math.max(...seconds.map((s) => s.gcMaxMs)), 1)}, ${seconds.reduce((a, s) => a + s.markCompacts, 0)} mark-compacts), ` +
        `sync fs ${fmt(
          per((s) => s.syncFsMs),
          1,
        )} (${fmt(Math.max(...seconds.map((s) => s.syncFsMaxMs)), 1)}), pool fs ${fmt(per((s) => s.poolFsCount))}`,
    );
  }
  return lines;
}
