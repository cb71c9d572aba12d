/**
 * How a consumer reaches a group's leases: straight to the brokers (broker-backend.ts) or
 * through the gateway's HTTP API (gateway-backend.ts). The consumers above it do not know
 * which; a gRPC endpoint would be one more of these.
 */
import type { PopRequest, SubscriptionGroupConfig } from '../api/consume-types.js';
import type { CirrusError } from '../errors.js';
import type { MessageView } from './message-view.js';

/** A broker's pop without a queue: a receive spans the topic's queues (and brokers), the backend picks them. */
export type ReceiveParams = Omit<PopRequest, 'queueId'>;

/** One per acked message, in order: null when the lease ended, else why not. */
export type AckOutcome = CirrusError | null;

export interface ConsumeBackend {
  receive(params: ReceiveParams): Promise<MessageView[]>;
  ack(group: string, messages: readonly MessageView[]): Promise<AckOutcome[]>;
  /** The lease's new receipt handle; throws the entry's error. */
  changeInvisibility(group: string, message: MessageView, invisibleMs: number): Promise<string>;
  /**
   * Hands leased messages back unread (a consumer shutting down): the lease ends at once and
   * is not counted as an attempt (through the gateway: change-invisibility with 0 seconds).
   * Failures are not thrown (the broker backend logs them); the leases then end at their
   * invisibility.
   */
  release(group: string, messages: readonly MessageView[]): Promise<void>;
  /** The group's settings (orderly, retries), when the backend can tell. */
  groupConfig(group: string): Promise<SubscriptionGroupConfig | undefined>;
  close(): void;
}
