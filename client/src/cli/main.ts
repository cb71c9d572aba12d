#!/usr/bin/env node
/** cirrusmq: the command line for a CirrusMQ cluster, over the gateway's HTTP API. */
import { parseArgs } from 'node:util';
import { GatewayClient, type MessageJsonIn } from '../api/gateway-client.js';
import { ConsumeLimits } from '../api/consume-types.js';
import { CirrusError } from '../errors.js';
import { consumeCommand } from './consume-command.js';
import { cliEnvHelp, loadCliConfig } from './config.js';
import { formatMessageLine, formatTable } from './format.js';

const HELP = `cirrusmq — the CirrusMQ command line (talks to the gateway's HTTP API)

Usage: cirrusmq <command> [options]

Commands:
  topic create <topic> --queues N   create a topic on every live broker (N queues each)
  topic list                        list topics
  topic describe <topic>            show a topic's queues per broker
  topic delete <topic>              delete a topic
  route <topic>                     show the topic's route (TopicRouteData)
  send <topic> <body>               send one message; --count N sends N copies in batches
  read <topic> --broker B --queue Q read a queue from --offset (default 0), --max messages (default 32)
  cluster                           list brokers with their last heartbeat and liveness
  consume <topic> --group G         receive, print and ack the group's messages; stops after --count N,
                                    or when a receive waited --wait S seconds (default 5) and found none;
                                    --filter 'TagA || TagB' receives only those tags
  group list                        list consumer groups
  group describe <group> --topic T  the group's progress on T per queue: committed offset, in flight, lag
  group reset <group> --topic T --to earliest|latest|<epoch ms>
                                    move the group on T (leases in flight end)

Options:
  --gateway URL    gateway URL (default: CIRRUSMQ_GATEWAY_URL, below)
  --tags T         tag of the sent message          --keys k1,k2   keys of the sent message
  --batch N        messages per request with --count (default 32, at most 1000)
  --invisible S    consume: seconds a received message stays leased before it is delivered again (default 30)
  --json           print raw JSON
  -h, --help       this help

Environment:
${cliEnvHelp()}
`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    gateway: { type: 'string' },
    queues: { type: 'string' },
    tags: { type: 'string' },
    keys: { type: 'string' },
    count: { type: 'string' },
    batch: { type: 'string' },
    broker: { type: 'string' },
    queue: { type: 'string' },
    offset: { type: 'string' },
    max: { type: 'string' },
    group: { type: 'string' },
    wait: { type: 'string' },
    filter: { type: 'string' },
    invisible: { type: 'string' },
    topic: { type: 'string' },
    to: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

const print = (s: string): void => {
  process.stdout.write(s + '\n');
};
const printJson = (v: unknown) => print(JSON.stringify(v, null, 2));

function int(name: string, raw: string | undefined, fallback?: number): number {
  if (raw === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
  return n;
}

class UsageError extends Error {}

/** A bad CIRRUSMQ_GATEWAY_URL stops the CLI with the variable named, exit code 2 as a usage error. */
function cliGatewayUrl(): string {
  try {
    return loadCliConfig().gatewayUrl;
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exit(2);
  }
}

async function run(gw: GatewayClient): Promise<void> {
  const [command, sub, arg] = positionals;
  switch (command) {
    case 'topic': {
      if (sub === 'create' && arg) {
        const t = await gw.createTopic(arg, int('queues', values.queues, 4));
        return values.json ? printJson(t) : print(`topic ${t.topic}: ${t.queues} queues on ${t.brokers.map((b) => b.brokerName).join(', ')}`);
      }
      if (sub === 'list') {
        const topics = await gw.listTopics();
        if (values.json) return printJson(topics);
        return print(
          formatTable(
            ['TOPIC', 'QUEUES', 'BROKERS'],
            topics.map((t) => [t.topic, String(t.queues), t.brokers.map((b) => b.brokerName).join(',')]),
          ),
        );
      }
      if (sub === 'describe' && arg) return printJson(await gw.getTopic(arg));
      if (sub === 'delete' && arg) {
        await gw.deleteTopic(arg);
        return print(`topic ${arg} deleted`);
      }
      throw new UsageError('topic needs create <topic>, list, describe <topic> or delete <topic>');
    }
    case 'route':
      if (!sub) throw new UsageError('route needs a topic');
      return printJson(await gw.getRoute(sub));
    case 'send':
      if (!sub || arg === undefined) throw new UsageError('send needs a topic and a body');
      return send(gw, sub, arg);
    case 'read': {
      if (!sub) throw new UsageError('read needs a topic');
      if (!values.broker) throw new UsageError('--broker is required');
      const r = await gw.read(sub, values.broker, int('queue', values.queue), int('offset', values.offset, 0), int('max', values.max, 32));
      if (values.json) return printJson(r);
      for (const m of r.messages) print(formatMessageLine(m));
      return print(`-- ${r.messages.length} messages; nextOffset ${r.nextOffset} (queue holds ${r.minOffset}..${r.maxOffset})`);
    }
    case 'cluster': {
      const brokers = await gw.cluster();
      if (values.json) return printJson(brokers);
      const ago = (ms: number) => `${Math.round((Date.now() - ms) / 1000)}s ago`;
      return print(
        formatTable(
          ['CLUSTER', 'BROKER', 'ID', 'ADDRESS', 'LAST HEARTBEAT', 'ALIVE'],
          brokers.map((b) => [b.cluster, b.brokerName, String(b.brokerId), b.addr, ago(b.lastHeartbeatMs), b.alive ? 'yes' : 'NO']),
        ),
      );
    }
    case 'consume': {
      if (!sub) throw new UsageError('consume needs a topic');
      if (!values.group) throw new UsageError('--group is required');
      const wait = int('wait', values.wait, 5);
      if (wait > ConsumeLimits.MAX_WAIT_MS / 1000) throw new UsageError(`--wait must be at most ${ConsumeLimits.MAX_WAIT_MS / 1000}`);
      await consumeCommand(gw, {
        topic: sub,
        group: values.group,
        count: values.count === undefined ? undefined : int('count', values.count),
        waitSeconds: wait,
        filter: values.filter,
        invisibleSeconds: int('invisible', values.invisible, 30),
        json: values.json ?? false,
        out: print,
        err: process.stderr,
      });
      return;
    }
    case 'group':
      return group(gw, sub, arg);
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'no command given');
  }
}

async function group(gw: GatewayClient, sub: string | undefined, name: string | undefined): Promise<void> {
  if (sub === 'list') {
    const groups = await gw.listGroups();
    if (values.json) return printJson(groups);
    return print(
      formatTable(
        ['GROUP', 'RETRY MAX', 'ORDERLY', 'CONSUME FROM'],
        groups.map((g) => [g.group, String(g.retryMaxTimes), g.orderly ? 'yes' : 'no', String(g.consumeFrom)]),
      ),
    );
  }
  if ((sub === 'describe' || sub === 'reset') && name) {
    if (!values.topic) throw new UsageError('--topic is required');
    let progress;
    if (sub === 'describe') progress = await gw.groupProgress(values.topic, name);
    else {
      if (!values.to) throw new UsageError('--to earliest|latest|<epoch ms> is required');
      const to = values.to === 'earliest' || values.to === 'latest' ? values.to : int('to', values.to);
      progress = await gw.resetGroup(values.topic, name, to);
    }
    if (values.json) return printJson(progress);
    const rows = progress.queues.map((q) => [q.broker, String(q.queueId), String(q.maxOffset), String(q.committedOffset), String(q.inFlight), String(q.lag)]);
    const t = progress.totals;
    rows.push(['total', '', String(t.maxOffset), String(t.committedOffset), String(t.inFlight), String(t.lag)]);
    print(formatTable(['BROKER', 'QUEUE', 'MAX OFFSET', 'COMMITTED', 'IN FLIGHT', 'LAG'], rows));
    print(
      `-- retried ${progress.retried}, dead-lettered ${progress.deadLettered}${progress.unreachableBrokers ? `; not answering: ${progress.unreachableBrokers.join(', ')}` : ''}`,
    );
    return;
  }
  throw new UsageError('group needs list, describe <group> --topic T or reset <group> --topic T --to earliest|latest|<ms>');
}

async function send(gw: GatewayClient, topic: string, body: string): Promise<void> {
  const message: MessageJsonIn = { body, tags: values.tags, keys: values.keys?.split(',').filter(Boolean) };
  const count = int('count', values.count, 1);
  const batch = Math.min(Math.max(int('batch', values.batch, 32), 1), 1000);
  if (count === 1) {
    const [r] = await gw.send(topic, [message]);
    if (r!.status === 'FAILED') process.exitCode = 1;
    return values.json
      ? printJson(r)
      : print(
          r!.status === 'FAILED'
            ? `FAILED ${r!.error.code}: ${r!.error.message}`
            : `${r!.status} ${r!.messageId} -> ${r!.broker}/${r!.queueId}@${r!.queueOffset}`,
        );
  }
  const started = Date.now();
  let sent = 0;
  let failed = 0;
  // A request refused whole (an unknown topic, no live broker) fails the messages not yet
  // sent: the same refusal would come back for each.
  let refused: CirrusError | undefined;
  const progress = (final = false) => {
    const secs = (Date.now() - started) / 1000;
    let line = `sent ${sent}/${count}, failed ${failed}, ${Math.round(sent / Math.max(secs, 0.001))} msg/s`;
    if (final && refused) line += `\nerror: ${refused.code}: ${refused.message}`;
    if (process.stderr.isTTY && !final) process.stderr.write(`\r${line}`);
    else if (final) process.stderr.write(`${process.stderr.isTTY ? '\r' : ''}${line}\n`);
  };
  const timer = setInterval(progress, 250);
  try {
    for (let done = 0; done < count; done += batch) {
      const n = Math.min(batch, count - done);
      let results;
      try {
        results = await gw.send(
          topic,
          Array.from({ length: n }, () => message),
        );
      } catch (e) {
        if (!(e instanceof CirrusError)) throw e;
        failed += count - done;
        refused = e;
        break;
      }
      for (const r of results) r.status === 'FAILED' ? failed++ : sent++;
    }
  } finally {
    clearInterval(timer);
    progress(true);
  }
  if (failed > 0 || sent < count) process.exitCode = 1;
}

if (values.help || positionals.length === 0) {
  print(HELP);
} else {
  const gatewayUrl = values.gateway ?? cliGatewayUrl();
  const gw = new GatewayClient(gatewayUrl);
  try {
    await run(gw);
  } catch (e) {
    if (e instanceof UsageError) process.stderr.write(`error: ${e.message}\n\n${HELP}`);
    else if (e instanceof CirrusError) process.stderr.write(`error: ${e.code}: ${e.message}\n`);
    else process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)} (is the gateway at ${gatewayUrl} running?)\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  } finally {
    gw.close();
  }
}
