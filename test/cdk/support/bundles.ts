/** Builds the deployable bundles into a folder, as the cloud does: the two Lambda handlers and the broker image's /app. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { LAMBDA_BUNDLE } from '../../../infra/lib/lambda-bundling';
import { Entries, REPO_ROOT } from '../../../infra/lib/paths';

/** The NodejsFunction's esbuild options (infra/lib/constructs/cirrusmq-function.ts), through the esbuild API. */
export async function buildLambdaBundle(entry: 'nameServerHandler' | 'gatewayHandler', outdir: string): Promise<string> {
  const outfile = path.join(outdir, entry, LAMBDA_BUNDLE.format === 'cjs' ? 'index.js' : 'index.mjs');
  await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: [Entries[entry]],
    outfile,
    bundle: true,
    platform: 'node',
    format: LAMBDA_BUNDLE.format,
    // nodejs22.x's syntax; the tests' Node 20 runs it too (nothing past ES2023 in the sources).
    target: LAMBDA_BUNDLE.target,
    minify: LAMBDA_BUNDLE.minify,
    sourcemap: LAMBDA_BUNDLE.sourceMap,
    external: [...LAMBDA_BUNDLE.externalModules],
    conditions: [...LAMBDA_BUNDLE.conditions],
    logLevel: 'warning',
  });
  return outfile;
}

/** `npm run build:broker -- --outdir DIR`, as the Dockerfile's build stage runs it. */
export async function buildBrokerBundle(outdir: string, metafile?: string): Promise<void> {
  const args = ['broker-node/docker/build.mjs', '--outdir', outdir, ...(metafile ? ['--metafile', metafile] : [])];
  await promisify(execFile)(process.execPath, args, { cwd: REPO_ROOT });
}
