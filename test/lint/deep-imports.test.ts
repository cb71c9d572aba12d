/**
 * The lint rule that keeps client/ a package with doors (biome.json, noRestrictedImports):
 * outside client/, a path into its source or build is an error, the package's entries are
 * not; inside client/, relative imports are its own business. Runs the real `biome lint`
 * on probe files placed where the rule's path globs apply.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
// .mjs: linted by Biome, never seen by tsc, so a probe cannot disturb a typecheck running meanwhile.
const probes: string[] = [];
afterAll(() => {
  for (const dir of probes) fs.rmSync(dir, { recursive: true, force: true });
});

async function lint(folder: string, source: string): Promise<{ ok: boolean; output: string }> {
  const dir = fs.mkdtempSync(path.join(ROOT, folder, '.lint-probe-'));
  probes.push(dir);
  const file = path.join(dir, 'probe.mjs');
  fs.writeFileSync(file, source);
  try {
    const r = await promisify(execFile)(process.execPath, [path.join(ROOT, 'node_modules/@biomejs/biome/bin/biome'), 'lint', path.relative(ROOT, file)], {
      cwd: ROOT,
    });
    return { ok: true, output: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { stdout: string; stderr: string };
    return { ok: false, output: err.stdout + err.stderr };
  }
}

describe('no deep imports into client/', () => {
  it.each([
    ['broker-node/src', '../../../client/src/errors'],
    ['functions', '../../client/src/producer/producer.js'],
    ['infra', '../client/dist/index.js'],
    ['test', '@cirrusmq/client/src/index.ts'],
  ])('refuses in %s: %s', async (folder, from) => {
    const r = await lint(folder, `import { Producer } from '${from}';\nexport const x = Producer;\n`);
    expect(r.ok).toBe(false);
    expect(r.output).toContain('lint/style/noRestrictedImports');
  });

  it('accepts the package entries outside client/, and relative paths inside it', async () => {
    const entries =
      "import { Producer } from '@cirrusmq/client';\nimport { CirrusError } from '@cirrusmq/client/protocol';\nimport { FolderLock } from '@cirrusmq/client/server';\nexport const x = [Producer, CirrusError, FolderLock];\n";
    for (const folder of ['broker-node/src', 'functions', 'infra', 'test']) {
      const r = await lint(folder, entries);
      expect(r, r.output).toMatchObject({ ok: true });
    }
    const inside = await lint('client/src', "import { CirrusError } from '../errors.js';\nexport const x = CirrusError;\n");
    expect(inside, inside.output).toMatchObject({ ok: true });
  });
});
