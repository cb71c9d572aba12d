/**
 * The broker's HTTP server: plain node:http (no framework on the hot path), a tiny router,
 * the same routes over remoting frames (GET /v1/remoting with Upgrade: cirrusmq-remoting/1,
 * remoting-server.ts), and one error policy: a CirrusError answers {"error":{code,message}} with its status;
 * anything else is a 500 INTERNAL, logged, and the server keeps serving.
 *
 *   POST /v1/send       send-message-processor.ts
 *   GET  /v1/messages   pull-message-processor.ts
 *   GET  /v1/messages/by-key, GET /v1/messages/by-id/{messageId}   query-message-processor.ts
 *   GET  /healthz, GET /metrics, GET /v1/stats   admin-processor.ts
 *   POST /v1/admin/topics/{topic}/delete          admin-processor.ts
 *   POST /v1/consume/pop|ack|change-invisibility|offsets/commit|offsets/reset, GET /v1/consume/progress   pop-message-processor.ts
 *   POST /v1/timer/cancel                          ../timer/timer-cancel-processor.ts
 *   POST /v1/transaction/end|producer-group, GET /v1/transaction/checks|producer-groups   ../transaction/end-transaction-processor.ts
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { CirrusError, MAX_FRAME_HEAD_BYTES, REMOTING_PATH, REMOTING_UPGRADE } from '@cirrusmq/client/protocol';
import { ADMIN_TOPICS_PREFIX, deleteTopicProcessor, healthProcessor, metricsProcessor, statsProcessor } from './admin-processor';
import { BrokerMetrics, timed } from './broker-metrics';
import type { BrokerServerContext } from './context';
import { sendError } from './http-util';
import {
  ackMessageProcessor,
  changeInvisibleTimeProcessor,
  commitOffsetProcessor,
  consumerProgressProcessor,
  popMessageProcessor,
  resetOffsetProcessor,
} from './pop-message-processor';
import { pullMessageProcessor } from './pull-message-processor';
import { VIEW_MESSAGE_PREFIX, queryMessageProcessor, viewMessageByIdProcessor } from './query-message-processor';
import { Router } from './router';
import { RemotingServer } from './remoting-server';
import { MAX_SEND_BODY_BYTES, sendMessageProcessor } from './send-message-processor';
import { TIMER_CANCEL_PATH, timerCancelProcessor } from '../timer/timer-cancel-processor';
import {
  endTransactionProcessor,
  PRODUCER_GROUP_PATH,
  PRODUCER_GROUPS_PATH,
  producerGroupProcessor,
  producerGroupsProcessor,
  TRANSACTION_CHECKS_PATH,
  TRANSACTION_END_PATH,
  transactionChecksProcessor,
} from '../transaction/end-transaction-processor';

export function createBrokerRouter(ctx: BrokerServerContext): Router {
  const metrics = new BrokerMetrics(ctx.brokerName, ctx.store, () => ctx.popService?.polling.parked() ?? 0);
  return new Router()
    .on('POST', '/v1/send', timed(metrics.send, sendMessageProcessor(ctx)))
    .on('GET', '/v1/messages', timed(metrics.pull, pullMessageProcessor(ctx)))
    .on('GET', '/v1/messages/by-key', queryMessageProcessor(ctx))
    .onPrefix('GET', VIEW_MESSAGE_PREFIX, viewMessageByIdProcessor(ctx))
    .on('GET', '/healthz', healthProcessor(ctx))
    .on('GET', '/metrics', metricsProcessor(ctx, metrics))
    .on('GET', '/v1/stats', statsProcessor(ctx))
    .onPrefix('POST', ADMIN_TOPICS_PREFIX, deleteTopicProcessor(ctx))
    .on('POST', '/v1/consume/pop', timed(metrics.pop, popMessageProcessor(ctx)))
    .on('POST', '/v1/consume/ack', timed(metrics.ack, ackMessageProcessor(ctx)))
    .on('POST', '/v1/consume/change-invisibility', changeInvisibleTimeProcessor(ctx))
    .on('GET', '/v1/consume/progress', consumerProgressProcessor(ctx))
    .on('POST', '/v1/consume/offsets/commit', commitOffsetProcessor(ctx))
    .on('POST', '/v1/consume/offsets/reset', resetOffsetProcessor(ctx))
    .on('POST', TIMER_CANCEL_PATH, timerCancelProcessor(ctx))
    .on('POST', TRANSACTION_END_PATH, endTransactionProcessor(ctx))
    .on('GET', TRANSACTION_CHECKS_PATH, transactionChecksProcessor(ctx))
    .on('POST', PRODUCER_GROUP_PATH, producerGroupProcessor(ctx))
    .on('GET', PRODUCER_GROUPS_PATH, producerGroupsProcessor(ctx));
}

/**
 * The HTTP server, which also upgrades connections to remoting frames (remoting-server.ts)
 * on the same port: close() and closeAllConnections() end those too, so the controller's
 * shutdown covers both.
 */
export class BrokerHttpServer extends http.Server {
  readonly remoting: RemotingServer;

  constructor(ctx: BrokerServerContext) {
    const router = createBrokerRouter(ctx);
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      const fail = (e: unknown) => {
        let err: CirrusError;
        if (e instanceof CirrusError) {
          err = e;
        } else {
          ctx.logger.error('request failed', { err: e, method: req.method, url: req.url, stack: e instanceof Error ? e.stack : undefined });
          err = new CirrusError('INTERNAL', 'internal error');
        }
        if (res.headersSent) {
          res.destroy();
          return;
        }
        // A request body left unread (refused early) would poison a keep-alive connection.
        const unread = !req.complete;
        sendError(res, err, unread ? { connection: 'close' } : {});
      };
      try {
        const { handler, query } = router.match(req.method, req.url);
        const done = handler(req, res, query);
        if (done) done.catch(fail);
      } catch (e) {
        fail(e);
      }
    };
    super(handle);
    // The processors use only what RemotingIncoming/RemotingOutgoing have of the node:http pair.
    this.remoting = new RemotingServer(
      (req, res) => handle(req as unknown as IncomingMessage, res as unknown as ServerResponse),
      ctx.logger,
      MAX_SEND_BODY_BYTES + MAX_FRAME_HEAD_BYTES,
    );
    this.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url === REMOTING_PATH && req.headers.upgrade?.toLowerCase() === REMOTING_UPGRADE) this.remoting.accept(req, socket, head);
      else socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    });
    this.on('clientError', (err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy(err);
    });
  }

  override close(callback?: (err?: Error) => void): this {
    this.remoting.close();
    return super.close(callback);
  }

  override closeAllConnections(): void {
    this.remoting.closeAll();
    super.closeAllConnections();
  }
}

export function createBrokerServer(ctx: BrokerServerContext): BrokerHttpServer {
  return new BrokerHttpServer(ctx);
}
