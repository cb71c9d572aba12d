/**
 * Power loss for a process under test: its node:fs is wrapped by the file layer
 * (file-layer.mjs, loaded by preload.mjs through NODE_OPTIONS), which keeps a durable image
 * of each watched folder: what completed fsyncs/fdatasyncs made durable, nothing else.
 * Pulling the plug = SIGKILL, then each folder's contents are replaced by its image, as a
 * machine that lost power would find its disk. SIGKILL alone keeps the page cache, so it
 * cannot tell a broker that syncs from one that does not.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Proc } from '../proc';
import { copyTreeSparse } from './durable-image.mjs';

const PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'preload.mjs');

export interface PowerLossFolders {
  roots: { dir: string; image: string }[];
}

/** Watches `dirs`; their images go under `{imagesDir}/{i}-{basename}` (outside the watched folders). */
export function powerLossFolders(imagesDir: string, dirs: string[]): PowerLossFolders {
  return { roots: dirs.map((dir, i) => ({ dir: path.resolve(dir), image: path.join(path.resolve(imagesDir), `${i}-${path.basename(dir)}`) })) };
}

/** The environment that loads the layer in a node process (merged over the process's own). */
export function powerLossEnv(folders: PowerLossFolders, baseNodeOptions = process.env.NODE_OPTIONS ?? ''): Record<string, string> {
  return { CIRRUSMQ_POWER_LOSS: JSON.stringify(folders), NODE_OPTIONS: `${baseNodeOptions} --import=${PRELOAD}`.trim() };
}

/** SIGKILL, then every watched folder holds only what was durable. */
export async function pullThePlug(proc: Proc, folders: PowerLossFolders): Promise<void> {
  await proc.stop('SIGKILL');
  restoreDurableImages(folders);
}

/**
 * Replaces each watched folder's contents with its image. The folder itself stays (its inode
 * names the store lock); a folder that never existed and has an empty image stays absent.
 */
export function restoreDurableImages(folders: PowerLossFolders): void {
  for (const { dir, image } of folders.roots) {
    if (!fs.existsSync(image)) throw new Error(`no durable image for ${dir}: was the process started with powerLossEnv?`);
    if (!fs.existsSync(dir) && fs.readdirSync(image).length === 0) continue;
    if (fs.existsSync(dir)) for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    copyTreeSparse(fs, image, dir);
  }
}
