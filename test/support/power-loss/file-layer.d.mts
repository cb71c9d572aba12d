/** Types for file-layer.mjs (plain JS so the preload needs no loader): the wrappers the unit tests call. */
import type { DurableImage } from './durable-image.mjs';

type Fs = typeof import('node:fs');

export interface FileLayer {
  sync: Pick<
    Fs,
    | 'openSync'
    | 'closeSync'
    | 'writeSync'
    | 'ftruncateSync'
    | 'fdatasyncSync'
    | 'fsyncSync'
    | 'renameSync'
    | 'linkSync'
    | 'rmSync'
    | 'unlinkSync'
    | 'mkdirSync'
    | 'writeFileSync'
  >;
  callback: Pick<Fs, 'open' | 'close' | 'write' | 'fdatasync' | 'fsync' | 'rename' | 'rm' | 'unlink' | 'mkdir'>;
  promises: Pick<typeof import('node:fs/promises'), 'open' | 'rename' | 'link' | 'rm' | 'unlink' | 'mkdir' | 'writeFile'>;
  images: DurableImage[];
  seed(): void;
  install(): void;
}

export declare function createFileLayer(fs: Fs, options: { roots: { dir: string; image: string }[] }): FileLayer;
