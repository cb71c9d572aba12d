/**
 * Argument checks both ObjectStores share, so the local folder and S3 accept and refuse
 * exactly the same keys, ranges and bodies (the contract suite holds them to it).
 */
import fs from 'node:fs/promises';
import { CirrusError } from '@cirrusmq/client/protocol';
import type { ObjectBody } from './object-store';

/**
 * A key is a relative, '/'-separated path. The local store turns it into a file path, so
 * '..', '.', empty segments and absolute keys are refused everywhere (never an escape from
 * the root folder), and a segment may not start with '.': the local store's temp files do.
 */
export function checkKey(key: string): void {
  const bad =
    key.length === 0 || key.length > 1024 || key.includes('\\') || key.includes('\0') || key.split('/').some((seg) => seg.length === 0 || seg.startsWith('.'));
  if (bad) throw new CirrusError('INVALID_PARAMETER', `invalid object key ${JSON.stringify(key)}`);
}

/** The store's own prefix, `{cluster}/{brokerName}/`: '' or ending in '/', so key joins are plain concatenation. */
export function normalizePrefix(prefix: string): string {
  const p = prefix.replace(/^\/+/, '');
  if (p === '') return '';
  const withSlash = p.endsWith('/') ? p : `${p}/`;
  checkKey(withSlash.slice(0, -1));
  return withSlash;
}

/** [start, end) must be a sane range: a wrong one is the caller's bug, not an outage. */
export function checkRange(start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new CirrusError('INVALID_PARAMETER', `invalid byte range [${start}, ${end})`);
  }
}

/**
 * A file-range body must lie inside its file before anything is uploaded: a short file
 * would otherwise upload a short object that looks whole. Not TIER_UNAVAILABLE: retrying
 * cannot help, so it is INTERNAL (non-retriable).
 */
export async function checkFileRange(body: Exclude<ObjectBody, Buffer>): Promise<void> {
  checkRange(body.start, body.end);
  let size: number;
  try {
    size = (await fs.stat(body.filePath)).size;
  } catch (e) {
    throw new CirrusError('INTERNAL', `cannot read upload source ${body.filePath}: ${(e as Error).message}`, { cause: e });
  }
  if (body.end > size) {
    throw new CirrusError('INTERNAL', `upload source ${body.filePath} has ${size} bytes, range ends at ${body.end}`);
  }
}
