/**
 * The TierManifest in the NameServer's DynamoDB table (docs/architecture.md, "The NameServer table"):
 *   pk `TIER#{cluster}#{brokerName}`  sk `SEG#{20-digit startOffset}`
 *   the TieredSegment fields as attributes; no TTL: an entry lives until remove().
 * One partition per broker, so list() is a Query of it, and the zero-padded sort key
 * orders entries by offset (past 2^31 too: the order is the 20 digits', not a number's).
 *
 * Reads are strongly consistent: a broker restoring right after its predecessor committed
 * must see that commit. Every failure is TIER_UNAVAILABLE, `cause` the SDK error.
 */
import { DeleteCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CirrusError } from '@cirrusmq/client/protocol';
import type { TierManifest, TieredSegment } from './tier-manifest';
import { checkSegment, fromRecord, segmentName, toRecord } from './tiered-segment-record';

/** The table's key attributes, as functions/nameserver's table-schema.ts names them (not imported: the broker bundle stays apart from the NameServer's code). */
const PK = 'pk';
const SK = 'sk';
const SEG_PREFIX = 'SEG#';

export interface DynamoDbTierManifestOptions {
  /** Not owned: the caller destroys its client. */
  doc: DynamoDBDocumentClient;
  tableName: string;
  clusterName: string;
  brokerName: string;
}

export class DynamoDbTierManifest implements TierManifest {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly pk: string;

  constructor(options: DynamoDbTierManifestOptions) {
    if (!options.clusterName || !options.brokerName || options.clusterName.includes('#') || options.brokerName.includes('#')) {
      // '#' separates the key's parts: a name holding one could read another broker's partition.
      throw new CirrusError('INVALID_PARAMETER', `invalid cluster/broker name ${options.clusterName}/${options.brokerName}`);
    }
    this.doc = options.doc;
    this.table = options.tableName;
    this.pk = `TIER#${options.clusterName}#${options.brokerName}`;
  }

  async list(): Promise<TieredSegment[]> {
    const out: TieredSegment[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.call('list', () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :seg)',
            ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
            ExpressionAttributeValues: { ':pk': this.pk, ':seg': SEG_PREFIX },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of page.Items ?? []) out.push(fromRecord(item, `${this.pk} ${String(item[SK])}`));
      start = page.LastEvaluatedKey;
    } while (start);
    // Query already returns sk order; sorting again costs nothing and does not trust it.
    return out.sort((a, b) => a.startOffset - b.startOffset);
  }

  /** A conditional put: a new item, or the same segment again (a retried commit); never another segment over one. */
  async commit(segment: TieredSegment): Promise<void> {
    checkSegment(segment);
    const item = { [PK]: this.pk, [SK]: this.sk(segment.startOffset), ...toRecord(segment) };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#sk) OR (#end = :end AND #clk = :clk AND #cqk = :cqk AND #size = :size AND #crc = :crc)',
          ExpressionAttributeNames: {
            '#sk': SK,
            '#end': 'endOffset',
            '#clk': 'commitLogKey',
            '#cqk': 'consumeQueueKey',
            '#size': 'objectSize',
            '#crc': 'crc32',
          },
          ExpressionAttributeValues: {
            ':end': segment.endOffset,
            ':clk': segment.commitLogKey,
            ':cqk': segment.consumeQueueKey,
            ':size': segment.objectSize,
            ':crc': segment.crc32,
          },
        }),
      );
    } catch (e) {
      if ((e as { name?: string }).name === 'ConditionalCheckFailedException') {
        throw new CirrusError(
          'TIER_OBJECT_CONFLICT',
          `tier manifest ${this.table} ${this.pk} ${this.sk(segment.startOffset)} already names another segment than ${segment.commitLogKey} (crc32 ${segment.crc32}); not replaced`,
          { cause: e },
        );
      }
      await this.call(`commit ${segment.startOffset}`, () => Promise.reject(e));
    }
  }

  async remove(startOffset: number): Promise<void> {
    const key = { [PK]: this.pk, [SK]: this.sk(startOffset) };
    // DeleteItem of a missing key succeeds: removing twice is fine.
    await this.call(`remove ${startOffset}`, () => this.doc.send(new DeleteCommand({ TableName: this.table, Key: key })));
  }

  private sk(startOffset: number): string {
    return SEG_PREFIX + segmentName(startOffset);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const name = (e as { name?: string }).name ?? 'Error';
      throw new CirrusError('TIER_UNAVAILABLE', `tier manifest ${this.table} ${this.pk}: ${what} failed: ${name}: ${(e as Error).message}`, { cause: e });
    }
  }
}
