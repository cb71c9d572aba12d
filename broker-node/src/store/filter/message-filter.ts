/**
 * RocketMQ's two-step tag filter (MessageFilter, ExpressionMessageFilter):
 *
 *   1. isMatchedByConsumeQueue(tagsCode): the 8-byte tag hash of each ConsumeQueue unit is
 *      checked against the expression's hash codes, so units of other tags are skipped
 *      without reading the CommitLog at all;
 *   2. isMatchedByCommitLog(record): the records that pass are confirmed against their
 *      stored TAGS property, because different tags may share a hash ("Aa" and "BB" do).
 */
import { buildSubscriptionData, decodeProperties, MessageConst, type RecordShape, type SubscriptionData } from '@cirrusmq/client/protocol';

export interface MessageFilter {
  /** Step 1, on the ConsumeQueue unit's tag hash code. */
  isMatchedByConsumeQueue(tagsCode: number): boolean;
  /** Step 2, on the stored record at `pos` of `buf`. */
  isMatchedByCommitLog(buf: Buffer, pos: number, shape: RecordShape): boolean;
}

export class ExpressionMessageFilter implements MessageFilter {
  constructor(readonly subscriptionData: SubscriptionData) {}

  isMatchedByConsumeQueue(tagsCode: number): boolean {
    return this.subscriptionData.subAll || this.subscriptionData.codeSet.has(tagsCode);
  }

  isMatchedByCommitLog(buf: Buffer, _pos: number, shape: RecordShape): boolean {
    if (this.subscriptionData.subAll) return true;
    const props = decodeProperties(buf.toString('utf8', shape.propertiesStart, shape.propertiesStart + shape.propertiesLength));
    const tags = props[MessageConst.TAGS];
    return tags !== undefined && this.subscriptionData.tagsSet.has(tags);
  }
}

/** The filter for a read's tag expression, or undefined for `*` (no filtering work at all). */
export function messageFilterFor(expression: string | undefined | null): MessageFilter | undefined {
  const data = buildSubscriptionData(expression);
  return data.subAll ? undefined : new ExpressionMessageFilter(data);
}
