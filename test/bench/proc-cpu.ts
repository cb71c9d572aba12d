/**
 * CPU time of processes from /proc/PID/stat (Linux): the benches' server-side cost figure,
 * independent of the load generator. utime and stime there cover every thread of the process.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** user+system CPU seconds of the processes so far (fields 14 and 15 of /proc/PID/stat). */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLK_TCK;
}

/** The system (kernel) part alone: on loopback, a socket write carries the receiver's TCP work too. */
export function systemSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += Number(statFields(pid)[12]);
  return ticks / CLK_TCK;
}

/**
 * `pids` and the processes they started (/proc/PID/task/TID/children): a broker's tier
 * uploader process (CIRRUSMQ_TIER_UPLOADER=process) is part of the broker's cost. Read once,
 * before a run: the uploader starts with its broker and lives as long.
 */
export function withChildren(pids: number[]): number[] {
  const out: number[] = [];
  for (const pid of pids) {
    out.push(pid);
    let tids: string[] = [];
    try {
      tids = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // statFields reports the missing process
    }
    for (const tid of tids) {
      let children = '';
      try {
        children = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
      } catch {
        // A thread that ended meanwhile.
      }
      for (const c of children.split(' ')) if (c.trim()) out.push(Number(c));
    }
  }
  return out;
}

function statFields(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
