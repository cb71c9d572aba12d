/**
 * Rebuilds the pending table at start: the op topic first (ends, check URLs), then the half
 * topic: a half record without an end is pending again. Its check count follows from its age,
 * so none is persisted.
 */
import { CirrusError, type Logger, readRecordShape } from '@cirrusmq/client/protocol';
import { HALF_TOPIC, readHalfRecord } from './half-message';
import { OP_TOPIC, readOpRecord } from './op-message';
import type { PendingTransactions } from './pending-transactions';
import type { ProducerGroupRecord } from './transactional-message-check-service';
import type { TransactionBackingStore, TransactionConfig } from './transactional-message-service';

const SCAN_BATCH = 256;

export async function recoverTransactions(
  store: Pick<TransactionBackingStore, 'getMessage' | 'getMinOffsetInQueue' | 'getMaxOffsetInQueue'>,
  config: Pick<TransactionConfig, 'checkFirstMs' | 'checkIntervalMs' | 'checkMax'>,
  now: () => number,
  pending: PendingTransactions,
  groups: Map<string, ProducerGroupRecord>,
  logger: Logger,
): Promise<void> {
  const groupRecords = new Map<string, ProducerGroupRecord>();
  // Every end still stored decides, not only the newest remembered for 409s.
  const ended = new Set<string>();
  for await (const buf of scan(store, OP_TOPIC)) {
    const op = readOpRecord(buf);
    if (!op) continue;
    if (op.kind === 'GROUP') {
      try {
        const { checkUrl } = JSON.parse(op.body.toString('utf8')) as { checkUrl: string | null };
        groupRecords.set(op.key, { checkUrl, storedMs: op.storeTimestamp });
      } catch {
        logger.warn('transaction: a producer group record that is not JSON, skipped', { group: op.key });
      }
    } else {
      for (const id of op.ids) {
        ended.add(id);
        pending.remember(id, op.kind);
      }
    }
  }
  for (const [g, v] of groupRecords) groups.set(g, v);
  const at = now();
  const { checkFirstMs: first, checkIntervalMs: interval, checkMax } = config;
  for await (const buf of scan(store, HALF_TOPIC)) {
    const r = readHalfRecord(buf);
    if (!r || ended.has(r.messageId)) continue;
    const firstAt = r.storeTimestamp + first;
    // The checks its age allows, less one made at once: missed checks are not replayed, nor counted twice.
    const passed = at < firstAt ? 0 : 1 + Math.floor((at - firstAt) / interval);
    pending.add({
      messageId: r.messageId,
      realTopic: r.realTopic,
      realQueueId: r.realQueueId,
      producerGroup: r.producerGroup,
      offsetPy: r.offsetPy,
      size: r.size,
      storedMs: r.storeTimestamp,
      checks: Math.min(checkMax, Math.max(0, passed - 1)),
      nextCheckMs: passed === 0 ? firstAt : at,
      queueKey: `${r.realTopic}\u0000${r.realQueueId}`,
      committed: undefined,
    });
  }
}

/** Every record of a system topic's queue 0 still stored, one record per buffer. */
async function* scan(
  store: Pick<TransactionBackingStore, 'getMessage' | 'getMinOffsetInQueue' | 'getMaxOffsetInQueue'>,
  topic: string,
): AsyncGenerator<Buffer> {
  let offset = store.getMinOffsetInQueue(topic, 0);
  const max = store.getMaxOffsetInQueue(topic, 0);
  while (offset < max) {
    let got: Awaited<ReturnType<TransactionBackingStore['getMessage']>>;
    try {
      got = await store.getMessage(topic, 0, offset, SCAN_BATCH);
    } catch (e) {
      if (e instanceof CirrusError && e.code === 'OFFSET_BELOW_MINIMUM') {
        offset = store.getMinOffsetInQueue(topic, 0);
        continue;
      }
      throw e;
    }
    let pos = 0;
    while (pos < got.records.length) {
      const shape = readRecordShape(got.records, pos, got.records.length);
      if (!shape) break;
      yield got.records.subarray(pos, pos + shape.size);
      pos += shape.size;
    }
    if (got.nextOffset <= offset) return;
    offset = got.nextOffset;
  }
}
