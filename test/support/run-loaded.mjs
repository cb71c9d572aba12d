#!/usr/bin/env node
/**
 * `npm run test:loaded`: the suite with two CPU-burning processes beside it, as on a busy
 * 2-core machine. A test that races the clock (a fixed sleep, a short timeout) fails here
 * long before it fails in CI. Arguments go to vitest (`npm run test:loaded -- path/to/file`);
 * CIRRUSMQ_BURNERS sets how many burners run (default 2).
 *
 * The burners are killed whatever happens (vitest fails, throws, or this process gets
 * SIGINT/SIGTERM/SIGHUP), and the exit code is vitest's.
 */
import { spawn } from 'node:child_process';

const count = Number(process.env.CIRRUSMQ_BURNERS ?? 2);
if (!Number.isInteger(count) || count < 0) {
  console.error(`CIRRUSMQ_BURNERS must be a whole number; got ${process.env.CIRRUSMQ_BURNERS}`);
  process.exit(2);
}

// A busy loop that also ends when this process is gone (even SIGKILLed): it is re-parented then.
const burn = `for (let i = 0; ; i++) if ((i & 0xffffff) === 0 && process.ppid !== ${process.pid}) process.exit(0);`;
const burners = Array.from({ length: count }, () => spawn(process.execPath, ['-e', burn], { stdio: 'ignore' }));
const killBurners = () => {
  for (const b of burners) if (b.exitCode === null && b.signalCode === null) b.kill('SIGKILL');
};
process.on('exit', killBurners);
console.log(`test:loaded: ${count} CPU burners running (pids ${burners.map((b) => b.pid).join(', ')})`);

// npm runs scripts with node_modules/.bin on PATH; `npx` finds it when run by hand too.
const vitest = spawn('npx', ['vitest', 'run', ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    vitest.kill(signal);
    killBurners();
  });
}
vitest.on('error', (err) => {
  console.error(`test:loaded: could not start vitest: ${err.message}`);
  killBurners();
  process.exit(1);
});
vitest.on('exit', (code, signal) => {
  killBurners();
  process.exit(code ?? (signal ? 1 : 0));
});
