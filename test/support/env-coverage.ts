/**
 * For the config-help tests: which environment variables a runtime's loader really reads
 * (a Proxy records every name it asks for, whatever the reading code looks like), the names
 * the README's "## Configuration" table mentions, and a runtime's real `--help` output.
 * itCoversItsConfig is the set of checks each runtime's config-help test runs with them.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VAR = /\b(?:CIRRUSMQ|AWS)_[A-Z0-9_]*[A-Z0-9]\b/g;

type Env = Record<string, string | undefined>;

/** Names `load` reads, over each of `envs` (so branches that read more are covered); its errors are ignored. */
export function namesRead(load: (env: Env) => unknown, envs: readonly Env[] = [{}]): Set<string> {
  const names = new Set<string>();
  for (const values of envs) {
    const env = new Proxy(values, {
      get(target, key) {
        if (typeof key === 'string') names.add(key);
        return target[key as string];
      },
      has(target, key) {
        if (typeof key === 'string') names.add(key);
        return key in target;
      },
    });
    try {
      load(env);
    } catch {
      // A combination the loader refuses still shows which variables it read first.
    }
  }
  return names;
}

/** The variable names in README.md's "## Configuration" section. */
export function readmeConfigNames(): Set<string> {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Configuration');
  if (start < 0) throw new Error('README.md has no "## Configuration" section');
  const end = readme.indexOf('\n## ', start + 1);
  return new Set(readme.slice(start, end < 0 ? undefined : end).match(VAR) ?? []);
}

/** The variable names in a help text. */
export function helpNames(help: string): Set<string> {
  return new Set(help.match(VAR) ?? []);
}

/** stdout of `node <entry> --help` run from the repo root, as `npm start` and the CDK run the runtimes. */
export function runHelp(entry: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--conditions=cirrusmq-source', '--import', 'tsx', entry, '--help'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The checks every runtime's configuration gets: its loader reads exactly the variables of its
 * table (`read`, from namesRead), each is named in its help and in the README's table, and
 * `entry --help` prints that help and exits 0 without starting.
 */
export function itCoversItsConfig(read: Set<string>, table: Record<string, { readonly name: string }>, help: () => string, entry: string): void {
  it('reads exactly the variables of its table, and no other', () => {
    expect([...read].sort()).toEqual(
      Object.values(table)
        .map((v) => v.name)
        .sort(),
    );
  });

  it('names every variable it reads in --help and in the README configuration table', () => {
    const names = helpNames(help());
    const readme = readmeConfigNames();
    expect([...read].filter((n) => !names.has(n))).toEqual([]);
    expect([...read].filter((n) => !readme.has(n))).toEqual([]);
  });

  it(`prints that help from ${path.basename(entry)} --help and exits 0 without starting`, () => {
    const r = runHelp(entry);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd()).toBe(help().trimEnd());
  }, 60_000);
}
