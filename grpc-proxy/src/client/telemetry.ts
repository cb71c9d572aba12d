/**
 * Telemetry, the bidirectional stream every official client opens to each endpoint: it sends
 * its settings (at startup and every 5 minutes) and its startup() waits, with no timeout, for
 * settings back. So every settings command gets an answer at once: the merged settings, or a
 * status with the failure (the client's StatusChecker then fails its startup instead of
 * hanging). The stream is kept in the client's session for later pushes.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ProxyContext } from '../proxy-context.js';
import { clientIdOf, resourceName } from '../rpc.js';
import { okStatus, RmqStatusError, statusOf } from '../status.js';
import type { ClientKind } from './client-sessions.js';
import { consumerSettings, producerSettings } from './settings.js';
import { producerGroupOf } from '../transaction/producer-group.js';

const CONSUMER_KINDS = new Set(['PUSH_CONSUMER', 'SIMPLE_CONSUMER', 'PULL_CONSUMER', 'LITE_PUSH_CONSUMER', 'LITE_SIMPLE_CONSUMER']);

export function telemetry(ctx: ProxyContext) {
  return (call: grpc.ServerDuplexStream<any, any>) => {
    const clientId = clientIdOf(call);
    const log = ctx.logger.child({ clientId });
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      ctx.sessions.detachStream(clientId, call);
      // A client that reconnected has a newer stream in its session: its check-backs go there.
      if (!ctx.sessions.get(clientId)) ctx.transactionChecks.unwatch(clientId);
    };
    const write = (command: object) => {
      if (!ended && !call.writableEnded) call.write(command);
    };
    call.on('data', (command: any) => {
      if (command.command !== 'settings') return; // thread stack traces, verify results: nothing asked for them
      answerSettings(ctx, clientId, command.settings, call).then(
        (answer) => {
          write(answer);
          ctx.sessions.answered(clientId, answer);
        },
        (e) => {
          const status = statusOf(e);
          log.warn('client settings refused', { code: status.code, err: status.message });
          write({ status });
        },
      );
    });
    call.on('end', () => {
      finish();
      call.end();
    });
    call.on('error', finish);
    call.on('cancelled', finish);
  };
}

async function answerSettings(ctx: ProxyContext, clientId: string, settings: any, stream: grpc.ServerDuplexStream<any, any>) {
  if (!clientId) throw new RmqStatusError('CLIENT_ID_REQUIRED', 'the x-mq-client-id header is required');
  const kind: string = settings?.client_type ?? 'CLIENT_TYPE_UNSPECIFIED';
  if (kind === 'PRODUCER') {
    const topics = (settings.publishing?.topics ?? []).map(resourceName);
    ctx.sessions.upsert(clientId, { kind: 'PRODUCER', settings, topics }, stream);
    // The settings do not say whether the producer is transactional: any producer of a topic may be asked (as on Apache).
    ctx.transactionChecks.watch(clientId, topics.filter(Boolean).map(producerGroupOf));
    return { status: okStatus(), settings: producerSettings(settings, ctx.config) };
  }
  if (CONSUMER_KINDS.has(kind)) {
    const group = resourceName(settings.subscription?.group);
    if (!group) throw new RmqStatusError('ILLEGAL_CONSUMER_GROUP', 'a consumer needs a group');
    const config = await ctx.groups.get(group);
    ctx.sessions.upsert(clientId, { kind: kind as ClientKind, settings, group, topics: [] }, stream);
    return { status: okStatus(), settings: consumerSettings(settings, config) };
  }
  throw new RmqStatusError('UNRECOGNIZED_CLIENT_TYPE', `client type ${kind} is not served`);
}

/** After its settings, a starting client fetches the routes of its other topics: resends within this long of the answer. */
const STARTUP_WINDOW_MS = 60_000;
/** After the route answer has gone: the client waits for settings only once its last route is in. */
const RESEND_DELAY_MS = 50;

/**
 * The official Node.js client fetches its topics' routes one after another and opens
 * Telemetry after the first; it waits for the settings answer only after the last route. An
 * answer that arrived in between is dropped and startup() waits forever (any client with two
 * or more topics). So the answer is written again shortly after each route query the client
 * makes while starting; a client that already has it applies the same settings again.
 */
export function resendSettingsAfterRoute(ctx: ProxyContext, clientId: string): void {
  const s = clientId ? ctx.sessions.get(clientId) : undefined;
  if (!s?.stream || !s.answer || s.answeredAt === undefined || Date.now() - s.answeredAt > STARTUP_WINDOW_MS) return;
  const { stream, answer } = s;
  setTimeout(() => {
    if (!stream.writableEnded && !stream.destroyed) stream.write(answer);
  }, RESEND_DELAY_MS).unref();
}
