/**
 * Whole-file writes that a crash cannot tear: written to a temp file, fsynced, then renamed
 * over the old one, so a reader finds either the old or the new file.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';

export async function writeFileAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/**
 * The array under `key` of a `{"version":1, key: [...]}` file, or [] when the file does not
 * exist yet. A file that does not parse or has another layout throws, naming the file: the
 * NameServer must not start on config it cannot read (and then overwrite it).
 */
export async function readVersionedList<T>(file: string, what: string, key: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${what} file ${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed[key])) {
    throw new Error(`${what} file ${file} has an unknown layout (expected version 1)`);
  }
  return parsed[key] as T[];
}
