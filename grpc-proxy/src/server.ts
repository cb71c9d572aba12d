/**
 * The MessagingService (apache.rocketmq.v2) on grpc-js: one handler file per RPC, the
 * consumer RPCs from consumer/index.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { notifyClientTermination } from './client/notify-client-termination.js';
import { heartbeat } from './client/heartbeat.js';
import { telemetry } from './client/telemetry.js';
import { consumerRpcs } from './consumer/index.js';
import { instrument } from './instrument.js';
import { endTransaction } from './producer/end-transaction.js';
import { recallMessage } from './producer/recall-message.js';
import { sendMessage } from './producer/send-message.js';
import { messagingServiceDefinition } from './proto.js';
import type { ProxyContext } from './proxy-context.js';
import { queryAssignment } from './route/query-assignment.js';
import { queryRoute } from './route/query-route.js';
import type { MessagingRpcs } from './rpc-types.js';

export function messagingRpcs(ctx: ProxyContext): Partial<MessagingRpcs> {
  return {
    QueryRoute: queryRoute(ctx),
    QueryAssignment: queryAssignment(ctx),
    Telemetry: telemetry(ctx),
    Heartbeat: heartbeat(ctx),
    NotifyClientTermination: notifyClientTermination(ctx),
    SendMessage: sendMessage(ctx),
    EndTransaction: endTransaction(ctx),
    RecallMessage: recallMessage(ctx),
    ...consumerRpcs(ctx),
  };
}

/** Server-side keepalive: a client that vanished without a FIN (a dead host) releases its streams. */
export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  // The official clients ping every 30 s or so; grpc-js would answer ENHANCE_YOUR_CALM below 5 min.
  'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  // A 4 MiB body plus its properties and the protobuf framing.
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.max_send_message_length': 16 * 1024 * 1024,
  // Channelz (grpc-js's introspection service, which the proxy does not serve) otherwise
  // keeps per-call and per-message counters and timestamps.
  'grpc.enable_channelz': 0,
};

export interface RunningProxyServer {
  server: grpc.Server;
  port: number;
}

/** Binds host:port (0 = any free port) without TLS and starts serving. */
export function startProxyServer(ctx: ProxyContext, host: string, port: number): Promise<RunningProxyServer> {
  const server = new grpc.Server(SERVER_OPTIONS);
  server.addService(messagingServiceDefinition(), instrument(messagingRpcs(ctx), ctx.metrics) as grpc.UntypedServiceImplementation);
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(err);
      else resolve({ server, port: bound });
    });
  });
}

/** Stops taking calls, lets running ones finish for up to `graceMs`, then cuts the rest (long polls, Telemetry streams). */
export function stopProxyServer(server: grpc.Server, graceMs = 2_000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
