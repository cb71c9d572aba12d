/** Types for durable-image.mjs (plain JS so the preload needs no loader). */
export declare class DurableImage {
  constructor(fs: typeof import('node:fs'), root: string, dir: string);
  readonly root: string;
  readonly dir: string;
  pathOf(abs: string): string;
  seed(): void;
}
export declare function copyTreeSparse(fs: typeof import('node:fs'), from: string, to: string): void;
export declare function copyFileSparse(fs: typeof import('node:fs'), from: string, to: string): void;
