/**
 * A TieredSegment as both manifests store it (a JSON file, a DynamoDB item): checked on the
 * way in, so a bad entry is refused at commit rather than found at restore, and read back
 * field by field, so a hand-edited or foreign record fails loudly instead of restoring garbage.
 */
import { CirrusError } from '@cirrusmq/client/protocol';
import { offsetToFileName } from '../store/mapped-file';
import type { TieredSegment } from './tier-manifest';

const NUMBER_FIELDS = ['startOffset', 'endOffset', 'objectSize', 'crc32', 'firstStoreTimestamp', 'lastStoreTimestamp', 'tieredAt'] as const;
const STRING_FIELDS = ['commitLogKey', 'consumeQueueKey'] as const;

/** The 20-digit name an entry is stored under; refuses offsets that would not sort as numbers. */
export function segmentName(startOffset: number): string {
  if (!Number.isSafeInteger(startOffset) || startOffset < 0) {
    throw new CirrusError('INVALID_PARAMETER', `invalid segment start offset ${startOffset}`);
  }
  return offsetToFileName(startOffset);
}

export function checkSegment(s: TieredSegment): void {
  segmentName(s.startOffset);
  for (const f of NUMBER_FIELDS) {
    if (!Number.isSafeInteger(s[f]) || s[f] < 0) throw new CirrusError('INVALID_PARAMETER', `tiered segment ${s.startOffset}: invalid ${f} ${s[f]}`);
  }
  for (const f of STRING_FIELDS) {
    if (typeof s[f] !== 'string' || s[f].length === 0) throw new CirrusError('INVALID_PARAMETER', `tiered segment ${s.startOffset}: invalid ${f}`);
  }
  if (s.endOffset < s.startOffset) throw new CirrusError('INVALID_PARAMETER', `tiered segment ${s.startOffset}: endOffset ${s.endOffset} is before it`);
}

/** Only the TieredSegment fields, in a fixed order: no stray attributes (pk, sk) leak either way. */
export function toRecord(s: TieredSegment): TieredSegment {
  return {
    startOffset: s.startOffset,
    endOffset: s.endOffset,
    commitLogKey: s.commitLogKey,
    consumeQueueKey: s.consumeQueueKey,
    objectSize: s.objectSize,
    crc32: s.crc32,
    firstStoreTimestamp: s.firstStoreTimestamp,
    lastStoreTimestamp: s.lastStoreTimestamp,
    tieredAt: s.tieredAt,
  };
}

/** A stored record back as a TieredSegment; `where` names it in the error. */
export function fromRecord(raw: unknown, where: string): TieredSegment {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const bad = (f: string) => new CirrusError('INTERNAL', `tier manifest entry ${where} has no valid ${f}`);
  const num = (f: (typeof NUMBER_FIELDS)[number]) => {
    const v = r[f];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(f);
    return v;
  };
  const str = (f: (typeof STRING_FIELDS)[number]) => {
    const v = r[f];
    if (typeof v !== 'string') throw bad(f);
    return v;
  };
  return {
    startOffset: num('startOffset'),
    endOffset: num('endOffset'),
    commitLogKey: str('commitLogKey'),
    consumeQueueKey: str('consumeQueueKey'),
    objectSize: num('objectSize'),
    crc32: num('crc32'),
    firstStoreTimestamp: num('firstStoreTimestamp'),
    lastStoreTimestamp: num('lastStoreTimestamp'),
    tieredAt: num('tieredAt'),
  };
}
