/**
 * The handler of each MessagingService RPC, as grpc-js calls them. Messages are the plain
 * objects @grpc/proto-loader builds (proto.ts's options); the shapes the handlers rely on are
 * in messages.ts. An RPC without a handler answers UNIMPLEMENTED (grpc-js does that).
 */
import type * as grpc from '@grpc/grpc-js';

type Unary = grpc.handleUnaryCall<any, any>;

export interface MessagingRpcs {
  QueryRoute: Unary;
  Heartbeat: Unary;
  SendMessage: Unary;
  QueryAssignment: Unary;
  ReceiveMessage: grpc.handleServerStreamingCall<any, any>;
  AckMessage: Unary;
  ForwardMessageToDeadLetterQueue: Unary;
  EndTransaction: Unary;
  Telemetry: grpc.handleBidiStreamingCall<any, any>;
  NotifyClientTermination: Unary;
  ChangeInvisibleDuration: Unary;
  RecallMessage: Unary;
}

/** The consumer RPCs (consumer/index.ts builds them). */
export type ConsumerRpcs = Pick<MessagingRpcs, 'ReceiveMessage' | 'AckMessage' | 'ChangeInvisibleDuration' | 'ForwardMessageToDeadLetterQueue'>;
