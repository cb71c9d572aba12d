#!/usr/bin/env node
/**
 * Bundles the gRPC proxy for its container: `npm run build:grpc-proxy [-- --outdir DIR]`.
 * The output directory is the image's /app, complete: the Dockerfile copies it whole.
 *
 *   proxy.mjs      grpc-proxy/src/main.ts and every dependency, one ES module
 *   proxy.mjs.map  its source map (node --enable-source-maps)
 *   node_modules/rocketmq-client-nodejs/{package.json,LICENSE,proto/**.proto}
 *                  the .proto files the proxy serves, where grpc-proxy/src/proto.ts looks for
 *                  them (require.resolve of the package from proxy.mjs): the package's own
 *                  files, not copies kept in the repository
 *
 * No other node_modules: every code dependency is inside proxy.mjs.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({ options: { outdir: { type: 'string' }, metafile: { type: 'string' } } });
const outdir = path.resolve(values.outdir ?? path.join(root, 'dist/grpc-proxy'));

await mkdir(outdir, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ['grpc-proxy/src/main.ts'],
  outfile: path.join(outdir, 'proxy.mjs'),
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

const pkgDir = path.dirname(createRequire(path.join(root, 'package.json')).resolve('rocketmq-client-nodejs/package.json'));
const shipped = path.join(outdir, 'node_modules/rocketmq-client-nodejs');
await mkdir(shipped, { recursive: true });
for (const f of ['package.json', 'LICENSE']) await copyFile(path.join(pkgDir, f), path.join(shipped, f));
for (const entry of await readdir(path.join(pkgDir, 'proto'), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.proto')) continue;
  const from = path.join(entry.parentPath, entry.name);
  const to = path.join(shipped, path.relative(pkgDir, from));
  await mkdir(path.dirname(to), { recursive: true });
  await copyFile(from, to);
}
if (values.metafile) await writeFile(path.resolve(values.metafile), JSON.stringify(result.metafile));
process.stdout.write(`grpc-proxy bundle in ${path.relative(process.cwd(), outdir) || '.'}\n`);
