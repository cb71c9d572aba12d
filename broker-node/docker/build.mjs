#!/usr/bin/env node
/**
 * Bundles the broker for its container: `npm run build:broker [-- --outdir DIR]`.
 * The output directory is the image's /app, complete: the Dockerfile copies it whole.
 *
 *   broker.mjs      broker-node/src/main.ts and every dependency, one ES module
 *   broker.mjs.map  its source map (node --enable-source-maps)
 *   segment-upload-process.mjs (+ .map)  the tier's uploader process, which the broker
 *                   starts from the file beside its own (tier/process-segment-uploader.ts)
 *   entrypoint.mjs  what the container runs: finds the task's address, then loads broker.mjs
 *
 * Every dependency is inside broker.mjs, so the image needs no node_modules at all.
 */
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({ options: { outdir: { type: 'string' }, metafile: { type: 'string' } } });
const outdir = path.resolve(values.outdir ?? path.join(root, 'dist/broker'));

await mkdir(outdir, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { broker: 'broker-node/src/main.ts', 'segment-upload-process': 'broker-node/src/tier/segment-upload-process.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  // @cirrusmq/client from its TypeScript source, as everywhere in the repo (client/package.json exports).
  conditions: ['cirrusmq-source'],
  // The image's Node (node:22); the syntax also runs on the Node 20 of the tests.
  target: 'node22',
  format: 'esm',
  sourcemap: true,
  legalComments: 'none',
  metafile: Boolean(values.metafile),
  // CommonJS packages inside an ES module bundle still call require().
  banner: { js: "import { createRequire as __cirrusmqCreateRequire } from 'node:module'; const require = __cirrusmqCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
await copyFile(path.join(root, 'broker-node/docker/entrypoint.mjs'), path.join(outdir, 'entrypoint.mjs'));
if (values.metafile) {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path.resolve(values.metafile), JSON.stringify(result.metafile));
}
process.stdout.write(`broker bundle in ${path.relative(process.cwd(), outdir) || '.'}\n`);
