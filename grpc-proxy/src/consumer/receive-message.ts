/**
 * ReceiveMessage (server streaming), RocketMQ's ReceiveMessageActivity over the broker's POP:
 * the stream is a status (OK, or MESSAGE_NOT_FOUND when the long poll ended empty), one
 * response per message, then the delivery timestamp, as ReceiveMessageResponseStreamWriter
 * writes it. A failure is a status alone. What the broker leased for a call whose client is
 * gone by the time the answer is ready is released at once (the broker's invisibleMs 0: back
 * in line, the attempt not counted), so another consumer gets it now, not after the lease.
 * An auto_renew receive (PushConsumer) hands its leases to the LeaseRenewer.
 */
import type * as grpc from '@grpc/grpc-js';
import { type BrokerClients, CirrusError, type PoppedMessage, RELEASE_INVISIBLE_MS } from '@cirrusmq/client/protocol';
import type { ProxyContext } from '../proxy-context.js';
import { clientIdOf } from '../rpc.js';
import { okStatus, type RmqStatus, statusOf } from '../status.js';
import { writeBatched } from './batched-writes.js';
import { brokerAddr } from './broker-addr.js';
import { timestampOf } from '../duration.js';
import { toProtoMessage } from './message-convert.js';
import type { LeaseRenewer } from './lease-renewer.js';
import { receiveParams } from './receive-params.js';

export function receiveMessage(ctx: ProxyContext, pops: BrokerClients, renewer: LeaseRenewer): grpc.handleServerStreamingCall<any, any> {
  return (call) => {
    receive(ctx, pops, renewer, call).catch((e) => {
      const status = statusOf(e);
      if (status.code.startsWith('INTERNAL') || status.code === 'PROXY_TIMEOUT')
        ctx.logger.warn('ReceiveMessage failed', { code: status.code, err: status.message });
      answer(call, status, []);
    });
  };
}

async function receive(ctx: ProxyContext, pops: BrokerClients, renewer: LeaseRenewer, call: grpc.ServerWritableStream<any, any>): Promise<void> {
  const { brokerName, pop, autoRenew } = receiveParams(call.request, deadlineOf(call), Date.now());
  const addr = await brokerAddr(ctx.routes, pop.topic, brokerName);
  if (!addr) throw new CirrusError('BROKER_NOT_FOUND', `broker ${brokerName} serves no queue of topic ${pop.topic}`);
  const popped = await pops.get(addr).pop(pop, brokerName);
  if (call.cancelled) {
    if (popped.length > 0) await release(ctx, addr, pop.topic, pop.group, popped);
    return;
  }
  const messages = popped.map((m) => toProtoMessage(m, pop.invisibleMs));
  answer(call, popped.length > 0 ? okStatus() : { code: 'MESSAGE_NOT_FOUND', message: 'no new message' }, messages);
  // Only for a client with a session: its end is how the proxy learns to stop renewing.
  const clientId = clientIdOf(call);
  if (autoRenew && popped.length > 0 && ctx.sessions.get(clientId)) {
    renewer.hold(
      clientId,
      addr,
      pop.topic,
      pop.group,
      popped.map((m) => m.receiptHandle),
    );
  }
}

function answer(call: grpc.ServerWritableStream<any, any>, status: RmqStatus, messages: unknown[]): void {
  if (call.cancelled) return;
  const responses: object[] = [{ status }];
  for (const message of messages) responses.push({ message });
  responses.push({ delivery_timestamp: timestampOf(Date.now()) });
  writeBatched(call, responses);
  call.end();
}

/** Hands the leases back; a failure leaves them to end at their invisibility, which is logged. */
async function release(ctx: ProxyContext, addr: string, topic: string, group: string, popped: PoppedMessage[]): Promise<void> {
  try {
    const entries = popped.map((m) => ({ receiptHandle: m.receiptHandle, invisibleMs: RELEASE_INVISIBLE_MS }));
    await ctx.brokers.get(addr).changeInvisibility({ topic, group, entries });
    ctx.logger.debug('receive cancelled by the client, leases released', { topic, group, count: popped.length });
  } catch (e) {
    ctx.logger.warn('release failed; the leases end at their invisibility', { topic, group, count: popped.length, err: String(e) });
  }
}

/** The call's deadline in epoch ms (Infinity without one). */
function deadlineOf(call: grpc.ServerWritableStream<any, any>): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : d;
}
