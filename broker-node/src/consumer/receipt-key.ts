/**
 * The broker's receipt-handle key: generated once and kept in the store folder
 * (`config/receipt.key`, mode 0600), so handles given out before a restart still verify after
 * it; with a tier, a copy there lets a broker restored onto an empty disk accept them too.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CirrusError } from '@cirrusmq/client/protocol';
import { writeFileDurably } from '../store/durable-file';

export function loadOrCreateReceiptKey(storeDir: string): Buffer {
  const key = readLocalKey(storeDir);
  if (key) return key;
  const fresh = randomBytes(32);
  writeLocalKey(storeDir, fresh);
  return fresh;
}

/** The key's copy in the tier: a broker restored onto an empty disk accepts the handles it gave out before. */
const TIER_RECEIPT_KEY = 'consumer/receipt.key';

/**
 * With a tier, its copy wins (put once, never replaced: the object store refuses other bytes
 * under a key); the local file follows it. A tier that does not answer leaves the local key
 * (handles of a restored broker would then answer INVALID_RECEIPT_HANDLE, logged).
 */
export async function loadReceiptKeyWithTier(
  storeDir: string,
  tier: { getObject(key: string): Promise<Buffer>; putObject(key: string, body: Buffer): Promise<unknown> } | undefined,
  onTierError: (err: unknown) => void,
): Promise<Buffer> {
  if (!tier) return loadOrCreateReceiptKey(storeDir);
  try {
    const remote = await tier.getObject(TIER_RECEIPT_KEY).catch((e: unknown) => {
      if (e instanceof CirrusError && e.code === 'TIER_OBJECT_NOT_FOUND') return undefined;
      throw e;
    });
    if (remote && remote.length >= 16) {
      const local = readLocalKey(storeDir);
      if (!local?.equals(remote)) writeLocalKey(storeDir, remote);
      return remote;
    }
    const key = loadOrCreateReceiptKey(storeDir);
    await tier.putObject(TIER_RECEIPT_KEY, key);
    return key;
  } catch (e) {
    onTierError(e);
    return loadOrCreateReceiptKey(storeDir);
  }
}

function keyFile(storeDir: string): string {
  return path.join(storeDir, 'config', 'receipt.key');
}

function readLocalKey(storeDir: string): Buffer | undefined {
  try {
    const key = fs.readFileSync(keyFile(storeDir));
    return key.length >= 16 ? key : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return undefined;
  }
}

/** Durable before any handle signed with it leaves the broker: a key lost to a power loss would void them all. */
function writeLocalKey(storeDir: string, key: Buffer): void {
  writeFileDurably(keyFile(storeDir), key, 0o600);
}
