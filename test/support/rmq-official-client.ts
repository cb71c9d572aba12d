/**
 * The official RocketMQ 5 Node client (rocketmq-client-nodejs) as tests use it against the
 * gRPC proxy: its default logger writes to ~/logs/rocketmq, so tests hand it one that keeps
 * the lines in memory (printed by a failing test's own message when needed).
 */
import { Producer } from 'rocketmq-client-nodejs';

export interface MemoryLogger {
  lines: string[];
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  close(): void;
}

export function memoryLogger(): MemoryLogger {
  const lines: string[] = [];
  const push =
    (level: string) =>
    (...args: unknown[]) => {
      lines.push(`${level} ${args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ')}`);
      if (lines.length > 2000) lines.splice(0, 1000);
    };
  return { lines, info: push('info'), warn: push('warn'), error: push('error'), debug: () => {}, close: () => {} };
}

/** A started official Producer for `topics` (startup waits for the proxy's settings; bounded here). */
export async function startOfficialProducer(endpoints: string, topics: string[], logger = memoryLogger(), timeoutMs = 20_000): Promise<Producer> {
  const producer = new Producer({ endpoints, namespace: '', topics, logger, requestTimeout: 5_000 });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`official producer startup took over ${timeoutMs} ms:\n${logger.lines.slice(-20).join('\n')}`)), timeoutMs);
  });
  try {
    await Promise.race([producer.startup(), timeout]);
  } finally {
    clearTimeout(timer);
  }
  return producer;
}
