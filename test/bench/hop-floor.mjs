/**
 * The floor of one network hop on this machine: a TCP ping-pong between two Node processes
 * at a fixed rate, 8-byte messages, RTT percentiles. Run it beside a bench to see what the
 * machine's scheduling alone adds to a tail. `node test/bench/hop-floor.mjs [rate 1000] [seconds 10]`
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

if (process.argv[2] === 'echo') {
  const server = net.createServer((c) => c.on('data', (d) => c.write(d)));
  server.listen(0, '127.0.0.1', () => process.send?.(server.address().port));
} else {
  const rate = Number(process.argv[2] ?? 1000);
  const seconds = Number(process.argv[3] ?? 10);
  const echo = fork(fileURLToPath(import.meta.url), ['echo']);
  const port = await new Promise((resolve) => echo.once('message', resolve));
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  const rtts = [];
  const sentAt = new Float64Array(rate * seconds + 1);
  socket.on('data', (d) => {
    const now = performance.now();
    for (let i = 0; i + 8 <= d.length; i += 8) rtts.push(now - sentAt[d.readDoubleLE(i)]);
  });
  const start = performance.now();
  let seq = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.min(sentAt.length, Math.floor(((performance.now() - start) * rate) / 1000));
    for (; seq < due; seq++) {
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleLE(seq);
      sentAt[seq] = performance.now();
      socket.write(b);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  rtts.sort((a, b) => a - b);
  const p = (q) => rtts[Math.min(rtts.length - 1, Math.floor((rtts.length * q) / 100))].toFixed(2);
  console.log(`hop RTT at ${rate}/s over ${seconds}s: n=${rtts.length} p50 ${p(50)} p99 ${p(99)} p99.9 ${p(99.9)} max ${p(100)} ms`);
  socket.destroy();
  echo.kill();
}
