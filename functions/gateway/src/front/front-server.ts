/**
 * The gateway process's listening socket. It answers the hot routes (send, receive, ack,
 * change-invisibility) from the bytes of each connection itself and hands every other request
 * to the node:http server behind it, which answers as it always has (Hono, through the
 * hot-route listener). node:http's machinery per request (an IncomingMessage and a
 * ServerResponse, their streams and events, the parser's callbacks) cost the gateway more CPU
 * per receive than its own work; see docs/architecture.md "The gateway's front server".
 */
import type { Server } from 'node:http';
import net from 'node:net';
import type { HotRouter } from '../hot-routes';
import { FrontConnection } from './front-connection';

export { nodeExchangeListener } from './node-exchange';

/**
 * A TCP server whose connections are served by FrontConnection; `http` is the node:http server
 * for everything else, not listening itself, with its request listener wrapped in
 * nodeExchangeListener.
 */
export function frontServer(router: HotRouter, http: Server): net.Server {
  const timeouts = { keepAliveMs: http.keepAliveTimeout, requestMs: http.headersTimeout };
  return net.createServer({ allowHalfOpen: true }, (socket) => new FrontConnection(socket, router, http, timeouts));
}
