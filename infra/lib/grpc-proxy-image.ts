/**
 * What the gRPC proxy image's build context holds. Its Dockerfile's own ignore file,
 * grpc-proxy/Dockerfile.dockerignore (BuildKit reads `<Dockerfile>.dockerignore` in place of
 * the root .dockerignore), is an allowlist like the broker's. CDK stages a Docker asset
 * through the root .dockerignore plus `exclude`; these patterns come last, start with `*`,
 * and so decide alone what is staged: the same files Docker then builds from.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Entries, REPO_ROOT } from './paths';

/** The patterns of grpc-proxy/Dockerfile.dockerignore, and that file itself (Docker must find it in the staged context). */
export function grpcProxyImageExcludes(): string[] {
  const file = `${Entries.grpcProxyDockerfile}.dockerignore`;
  const patterns = readFileSync(path.join(REPO_ROOT, file), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return [...patterns, `!${file}`];
}
