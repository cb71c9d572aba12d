/**
 * The CommitLog's tiered part: segments in the object store, read by offset as the local
 * CommitLog is. A read fetches aligned blocks (blockBytes, 4 MiB by default) with ranged
 * GETs through a bounded cache; when a reader moves on to the block after one it read, the
 * next readAheadBlocks are fetched ahead, so a consumer reading from the start of a topic
 * streams at the store's speed while memory stays at the cache bound.
 *
 *   offset -> segment (binary search over the manifest) -> block = (offset - start) / blockBytes
 *   a record never straddles segments, but may straddle two blocks
 */
import { CirrusError } from '@cirrusmq/client/protocol';
import type { ObjectStore } from './object-store';
import { BlockCache } from './block-cache';
import type { TieredSegment } from './tier-manifest';

export interface TieredReadConfig {
  blockBytes: number;
  cacheBytes: number;
  readAheadBlocks: number;
}

export class TieredCommitLog {
  /** By startOffset ascending. */
  private segments: TieredSegment[] = [];
  readonly cache: BlockCache;

  constructor(
    private readonly store: ObjectStore,
    private readonly config: TieredReadConfig,
  ) {
    this.cache = new BlockCache(config.cacheBytes);
  }

  setSegments(segments: readonly TieredSegment[]): void {
    this.segments = [...segments].sort((a, b) => a.startOffset - b.startOffset);
  }

  add(segment: TieredSegment): void {
    this.segments = this.segments.filter((s) => s.startOffset !== segment.startOffset);
    this.segments.push(segment);
    this.segments.sort((a, b) => a.startOffset - b.startOffset);
  }

  remove(startOffset: number): void {
    this.segments = this.segments.filter((s) => s.startOffset !== startOffset);
    this.cache.dropPrefix(`${startOffset}:`);
  }

  list(): readonly TieredSegment[] {
    return this.segments;
  }

  /** The first tiered offset, or undefined when nothing is tiered. */
  getMinOffset(): number | undefined {
    return this.segments[0]?.startOffset;
  }

  /** The end of the last tiered segment (0 when nothing is tiered). */
  getMaxOffset(): number {
    return this.segments.at(-1)?.endOffset ?? 0;
  }

  isTiered(startOffset: number): boolean {
    return this.findSegment(startOffset)?.startOffset === startOffset;
  }

  findSegment(offset: number): TieredSegment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.segments[mid]!;
      if (offset < s.startOffset) hi = mid - 1;
      else if (offset >= s.endOffset) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  /**
   * Copies bytes [offset, offset + length) into `into` at `intoOffset`. The range must lie in
   * one segment's data (one record, or a run of adjacent records of one segment).
   */
  async readInto(offset: number, length: number, into: Buffer, intoOffset: number): Promise<void> {
    const seg = this.findSegment(offset);
    if (!seg || offset + length > seg.startOffset + seg.objectSize) {
      throw new CirrusError('TIER_OBJECT_NOT_FOUND', `commitlog bytes ${offset}..${offset + length} are not in a tiered segment`);
    }
    const B = this.config.blockBytes;
    let pos = offset - seg.startOffset;
    const end = pos + length;
    let out = intoOffset;
    while (pos < end) {
      const index = Math.floor(pos / B);
      const block = await this.block(seg, index);
      const from = pos - index * B;
      const n = Math.min(end - pos, block.length - from);
      if (n <= 0) throw new CirrusError('TIER_OBJECT_NOT_FOUND', `segment ${seg.commitLogKey} is shorter than its manifest entry`);
      block.copy(into, out, from, from + n);
      pos += n;
      out += n;
    }
  }

  /** A block for a reader; reading the block after one in the cache (a sequential reader) or a segment's first starts a read-ahead. */
  private block(seg: TieredSegment, index: number): Promise<Buffer> {
    const B = this.config.blockBytes;
    const sequential = index === 0 || this.cache.has(`${seg.startOffset}:${index - 1}`);
    const p = this.cache.get(`${seg.startOffset}:${index}`, () => this.store.getRange(seg.commitLogKey, index * B, Math.min((index + 1) * B, seg.objectSize)));
    if (sequential) this.readAhead(seg, index);
    return p;
  }

  /**
   * Once fewer than half of the readAheadBlocks blocks after `index` are cached or coming,
   * fetches the missing ones without waiting for them: one ranged GET per run of adjacent
   * blocks of one segment, crossing into the next segment. A sequential reader so costs
   * about one GET per readAheadBlocks / 2 blocks, not one per block.
   */
  private readAhead(seg: TieredSegment, index: number): void {
    if (this.blocksAhead(seg, index) * 2 >= this.config.readAheadBlocks) return;
    const B = this.config.blockBytes;
    let s: TieredSegment | undefined = seg;
    let i = index;
    let run: { seg: TieredSegment; first: number; keys: string[] } | undefined;
    const flush = () => {
      if (!run || run.keys.length === 0) return;
      const { seg: rs, first, keys } = run;
      this.cache.prefetchSpan(keys, B, () => this.store.getRange(rs.commitLogKey, first * B, Math.min((first + keys.length) * B, rs.objectSize)));
      run = undefined;
    };
    for (let n = 0; n < this.config.readAheadBlocks; n++) {
      i++;
      if (i * B >= s.objectSize) {
        flush();
        s = this.findSegment(s.endOffset);
        i = 0;
        if (!s) return;
      }
      const key = `${s.startOffset}:${i}`;
      if (this.cache.has(key)) {
        flush();
        continue;
      }
      if (!run || run.seg !== s) {
        flush();
        run = { seg: s, first: i, keys: [] };
      }
      run.keys.push(key);
    }
    flush();
  }

  /** How many of the readAheadBlocks blocks after `index` are cached or coming. */
  private blocksAhead(seg: TieredSegment, index: number): number {
    const B = this.config.blockBytes;
    let s: TieredSegment | undefined = seg;
    let i = index;
    let present = 0;
    for (let n = 0; n < this.config.readAheadBlocks && s; n++) {
      i++;
      if (i * B >= s.objectSize) {
        s = this.findSegment(s.endOffset);
        i = 0;
        if (!s) break;
      }
      if (this.cache.has(`${s.startOffset}:${i}`)) present++;
    }
    return present;
  }
}
