/**
 * apache.rocketmq.v2.MessagingService, loaded from the .proto files the official Node client
 * ships (rocketmq-client-nodejs/proto), so the served protocol is the one its clients speak.
 * The loader options are part of this runtime's contract: handlers read snake_case fields,
 * enum names as strings, int64 as numbers, and the name of the set field of each oneof.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_ROOT = path.join(path.dirname(createRequire(import.meta.url).resolve('rocketmq-client-nodejs/package.json')), 'proto');

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT] };

let cached: grpc.ServiceDefinition | undefined;

/** The service definition for grpc.Server.addService (loaded once per process). */
export function messagingServiceDefinition(): grpc.ServiceDefinition {
  if (!cached) {
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync('apache/rocketmq/v2/service.proto', LOADER_OPTIONS)) as any;
    cached = pkg.apache.rocketmq.v2.MessagingService.service as grpc.ServiceDefinition;
  }
  return cached;
}

/** A client constructor for the same service: tests and tools that speak to the proxy raw. */
export function messagingServiceClient(): grpc.ServiceClientConstructor {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync('apache/rocketmq/v2/service.proto', LOADER_OPTIONS)) as any;
  return pkg.apache.rocketmq.v2.MessagingService as grpc.ServiceClientConstructor;
}
