/**
 * Receipt handles: opaque to clients, self-describing to the broker (which broker, topic,
 * queue, offset, group and lease generation: an ack needs no lookup to route), and signed with
 * HMAC-SHA256 under the broker's key, so an edited or forged handle is refused with
 * INVALID_RECEIPT_HANDLE instead of acking some other message (RocketMQ's handle is a plain
 * string a client can edit).
 *
 *   v1.<base64url(JSON [broker, topic, queueId, queueOffset, group, generation])>.<base64url(mac, 16 bytes)>
 */
import { createHash, createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CirrusError } from '@cirrusmq/client/protocol';
import { writeFileDurably } from '../store/durable-file';

export interface ReceiptHandleFields {
  brokerName: string;
  topic: string;
  queueId: number;
  queueOffset: number;
  group: string;
  /** The lease's generation: a new one on every delivery and every change of invisibility. */
  generation: number;
}

const VERSION = 'v1';
/** 128 bits of the HMAC: forging stays out of reach, handles stay short. */
const MAC_BYTES = 16;
const MAX_HANDLE_CHARS = 1024;

export class ReceiptHandleCodec {
  private readonly hmac: HmacSha256;

  constructor(key: Buffer) {
    if (key.length < 16) throw new CirrusError('INTERNAL', 'receipt handle key shorter than 16 bytes');
    this.hmac = new HmacSha256(key);
  }

  encode(f: ReceiptHandleFields): string {
    const payload = Buffer.from(JSON.stringify([f.brokerName, f.topic, f.queueId, f.queueOffset, f.group, f.generation])).toString('base64url');
    return `${VERSION}.${payload}.${this.mac(payload).toString('base64url')}`;
  }

  /** The fields of a genuine handle; INVALID_RECEIPT_HANDLE for anything else. */
  decode(handle: unknown): ReceiptHandleFields {
    if (typeof handle !== 'string' || handle.length > MAX_HANDLE_CHARS) throw invalid('not a receipt handle');
    const parts = handle.split('.');
    if (parts.length !== 3 || parts[0] !== VERSION) throw invalid('not a receipt handle');
    const [, payload, mac] = parts as [string, string, string];
    const given = Buffer.from(mac, 'base64url');
    const expected = this.mac(payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid('receipt handle signature does not match (edited or forged)');
    let f: unknown;
    try {
      f = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw invalid('receipt handle payload unreadable');
    }
    if (!Array.isArray(f) || f.length !== 6) throw invalid('receipt handle payload malformed');
    const [brokerName, topic, queueId, queueOffset, group, generation] = f as unknown[];
    if (
      typeof brokerName !== 'string' ||
      typeof topic !== 'string' ||
      typeof group !== 'string' ||
      !isIndex(queueId) ||
      !isIndex(queueOffset) ||
      !isIndex(generation)
    ) {
      throw invalid('receipt handle payload malformed');
    }
    return { brokerName, topic, queueId, queueOffset, group, generation };
  }

  private mac(payload: string): Buffer {
    return this.hmac.digest(payload).subarray(0, MAC_BYTES);
  }
}

/** SHA-256's block: HMAC's key pads are one block. */
const BLOCK = 64;
/** Payloads up to this many UTF-16 units go through the kept buffers (3 UTF-8 bytes each at most); a longer one, createHmac. */
const MAX_FAST_PAYLOAD = MAX_HANDLE_CHARS;

/**
 * HMAC-SHA256 (RFC 2104) as two one-shot hashes over buffers kept for the codec's life. Byte for
 * byte createHmac's MAC (handles given out before still verify), without a native Hmac object and
 * its key setup per handle: that was ~10% of a broker's CPU on the receive + ack path, plus the
 * garbage collector's work on the objects. Synchronous, so one pair of buffers serves every call.
 */
export class HmacSha256 {
  /** key XOR ipad, then the message. */
  private readonly inner = Buffer.alloc(BLOCK + 3 * MAX_FAST_PAYLOAD);
  /** key XOR opad, then the inner digest. */
  private readonly outer = Buffer.alloc(BLOCK + 32);

  constructor(private readonly key: Buffer) {
    const k = key.length > BLOCK ? createHash('sha256').update(key).digest() : key;
    for (let i = 0; i < BLOCK; i++) {
      const b = i < k.length ? k[i]! : 0;
      this.inner[i] = b ^ 0x36;
      this.outer[i] = b ^ 0x5c;
    }
  }

  digest(message: string): Buffer {
    if (message.length > MAX_FAST_PAYLOAD) return createHmac('sha256', this.key).update(message).digest();
    const n = this.inner.write(message, BLOCK, 'utf8');
    hash('sha256', this.inner.subarray(0, BLOCK + n), 'buffer').copy(this.outer, BLOCK);
    return hash('sha256', this.outer, 'buffer');
  }
}

/**
 * The broker's key: generated once and kept in the store folder (`config/receipt.key`, mode
 * 0600), so handles given out before a restart still verify after it.
 */
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

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function invalid(message: string): CirrusError {
  return new CirrusError('INVALID_RECEIPT_HANDLE', message);
}
