/**
 * Lookup by key and by message id (RocketMQ's QueryMessageService side of the store): the
 * IndexService yields candidate CommitLog offsets by key hash; each candidate record is read
 * and confirmed, because a hash is not a key:
 *
 *   candidate offset -> record head (TOTALSIZE) -> whole record -> shape, CRC, PHYSICALOFFSET
 *     -> by key: topic equal and KEYS holds the key;  by id: UNIQ_KEY equal
 *     -> store time inside [begin, end]
 *
 * The checks also drop what the index may hold past a recovery: an offset below the
 * log's minimum (retention), past its end, or into the middle of a record rewritten after a
 * torn tail was cut. Records below the local CommitLog are read from the tier (the store's
 * CommitLogReader, commit-log-reader.ts, behind LogReader).
 */
import { decodeProperties, Field, hasValidCrc, KEY_SEPARATOR, MessageConst, readInt64, readRecordShape } from '@cirrusmq/client/protocol';
import { MAX_CANDIDATES, MAX_READ_BYTES, type QueryMessageResult } from '../message-store-types';
import { buildIdKey, buildKey, type IndexService } from './index-service';

type Confirm = (topic: string, props: Record<string, string>) => boolean;

/** The log as lookups read it: the local CommitLog, and the tier below it. */
export interface LogReader {
  /** The first offset readable. */
  minOffset(): number;
  maxOffset(): number;
  /** `size` bytes at `offset` (a new buffer), or undefined when they are not stored. */
  read(offset: number, size: number): Promise<Buffer | undefined>;
}

/** Up to `maxNum` messages of `topic` with `key` among their KEYS, stored within [begin, end] (ms): the newest ones. */
export function queryMessageByKey(
  index: IndexService,
  log: LogReader,
  topic: string,
  key: string,
  maxNum: number,
  begin: number,
  end: number,
): Promise<QueryMessageResult> {
  const confirm: Confirm = (t, props) => t === topic && (props[MessageConst.KEYS]?.split(KEY_SEPARATOR).includes(key) ?? false);
  return collect(index, log, buildKey(topic, key), confirm, maxNum, begin, end);
}

/** The stored copies of message `messageId` (UNIQ_KEY): one, or more when a retried send stored it twice. */
export function queryMessageById(index: IndexService, log: LogReader, messageId: string, maxNum: number): Promise<QueryMessageResult> {
  const confirm: Confirm = (_t, props) => props[MessageConst.UNIQ_KEY] === messageId;
  return collect(index, log, buildIdKey(messageId), confirm, maxNum, 0, Number.MAX_SAFE_INTEGER);
}

async function collect(
  index: IndexService,
  log: LogReader,
  indexKey: string,
  confirm: Confirm,
  maxNum: number,
  begin: number,
  end: number,
): Promise<QueryMessageResult> {
  const found: { offset: number; record: Buffer }[] = [];
  let bytes = 0;
  let candidates = 0;
  for (const phy of index.candidates(indexKey, begin, end)) {
    if (found.length >= maxNum || ++candidates > MAX_CANDIDATES) break;
    const record = await readConfirmed(log, phy, confirm, begin, end);
    if (!record) continue;
    if (found.length > 0 && bytes + record.length > MAX_READ_BYTES) break;
    found.push({ offset: phy, record });
    bytes += record.length;
  }
  found.sort((a, b) => a.offset - b.offset);
  return {
    records: Buffer.concat(
      found.map((f) => f.record),
      bytes,
    ),
    count: found.length,
  };
}

async function readConfirmed(log: LogReader, phy: number, confirm: Confirm, begin: number, end: number): Promise<Buffer | undefined> {
  if (phy < log.minOffset() || phy + Field.BODY > log.maxOffset()) return undefined;
  const head = await log.read(phy, 4);
  if (!head) return undefined;
  const size = head.readInt32BE(0);
  if (size < Field.BODY + 3 || phy + size > log.maxOffset()) return undefined;
  const buf = await log.read(phy, size);
  if (!buf) return undefined;
  const shape = readRecordShape(buf, 0, buf.length);
  if (!shape || readInt64(buf, Field.PHYSICALOFFSET) !== phy || !hasValidCrc(buf, 0, size)) return undefined;
  const storeTimestamp = readInt64(buf, Field.STORETIMESTAMP);
  if (storeTimestamp < begin || storeTimestamp > end) return undefined;
  const topic = buf.toString('latin1', shape.topicStart, shape.topicStart + shape.topicLength);
  const props = decodeProperties(buf.toString('utf8', shape.propertiesStart, shape.propertiesStart + shape.propertiesLength));
  return confirm(topic, props) ? buf : undefined;
}
