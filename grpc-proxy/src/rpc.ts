/** What every unary handler shares: the caller's client id, and a thrown error answered as a RocketMQ status. */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '@cirrusmq/client/protocol';
import { type RmqStatus, statusOf } from './status.js';

/** The x-mq-client-id header every official client sends ('' when absent). */
export function clientIdOf(call: { metadata: grpc.Metadata }): string {
  const v = call.metadata.get('x-mq-client-id')[0];
  return typeof v === 'string' ? v : v ? v.toString() : '';
}

/**
 * A unary handler from an async function: its result is the response; what it throws becomes
 * `{ status }` with the mapped Code (gRPC OK, as Apache's proxy answers), logged when it is
 * the service's fault.
 */
export function unary<Req, Res extends object>(
  name: string,
  logger: Logger,
  fn: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res | { status: RmqStatus }> {
  return (call, callback) => {
    fn(call.request, call as grpc.ServerUnaryCall<Req, Res>).then(
      (res) => callback(null, res),
      (e) => {
        const status = statusOf(e);
        if (status.code.startsWith('INTERNAL') || status.code === 'PROXY_TIMEOUT') logger.warn(`${name} failed`, { code: status.code, err: status.message });
        callback(null, { status });
      },
    );
  };
}

/** The name of a Resource ({ resource_namespace, name }), '' when absent. */
export function resourceName(r: { name?: string } | null | undefined): string {
  return r?.name ?? '';
}
