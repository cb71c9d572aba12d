/**
 * Where the CDK app finds the code it deploys. infra/ references entry files by path and
 * imports no runtime code: the Lambdas are bundled from these files by esbuild, the broker
 * image is built from the Dockerfile.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const Entries = {
  nameServerHandler: path.join(REPO_ROOT, 'functions/nameserver/src/handler.ts'),
  gatewayHandler: path.join(REPO_ROOT, 'functions/gateway/src/handler.ts'),
  /** Relative to the Docker build context (the repo root), as `docker build -f` takes it. */
  brokerDockerfile: 'broker-node/Dockerfile',
  grpcProxyDockerfile: 'grpc-proxy/Dockerfile',
  lockFile: path.join(REPO_ROOT, 'package-lock.json'),
} as const;
