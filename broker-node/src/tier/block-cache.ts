/**
 * A bounded LRU of object blocks for cold reads, with fetches in flight shared: two readers
 * of one block make one GET. Memory is at most maxBytes of cached blocks plus the blocks
 * being fetched.
 */
export interface BlockCacheStats {
  hits: number;
  misses: number;
  /** Blocks fetched ahead of a sequential reader. */
  prefetches: number;
  bytes: number;
  evictions: number;
}

export class BlockCache {
  /** Map iteration order is insertion order: re-inserting on a hit makes the first key the least recently used. */
  private readonly blocks = new Map<string, Buffer>();
  private readonly inFlight = new Map<string, Promise<Buffer>>();
  readonly stats: BlockCacheStats = { hits: 0, misses: 0, prefetches: 0, bytes: 0, evictions: 0 };

  constructor(private readonly maxBytes: number) {}

  has(key: string): boolean {
    return this.blocks.has(key) || this.inFlight.has(key);
  }

  /** The cached block, or the shared fetch of it. `prefetch` fetches count apart and do not touch hit/miss. */
  get(key: string, fetch: () => Promise<Buffer>, prefetch = false): Promise<Buffer> {
    const cached = this.blocks.get(key);
    if (cached) {
      if (!prefetch) {
        this.stats.hits++;
        this.blocks.delete(key);
        this.blocks.set(key, cached);
      }
      return Promise.resolve(cached);
    }
    const pending = this.inFlight.get(key);
    if (pending) {
      if (!prefetch) this.stats.hits++;
      return pending;
    }
    if (prefetch) this.stats.prefetches++;
    else this.stats.misses++;
    const p = fetch().then(
      (block) => {
        this.inFlight.delete(key);
        this.put(key, block);
        return block;
      },
      (err: unknown) => {
        this.inFlight.delete(key);
        throw err;
      },
    );
    this.inFlight.set(key, p);
    return p;
  }

  private put(key: string, block: Buffer): void {
    if (block.length > this.maxBytes) return;
    this.blocks.set(key, block);
    this.stats.bytes += block.length;
    for (const [k, b] of this.blocks) {
      if (this.stats.bytes <= this.maxBytes) break;
      this.blocks.delete(k);
      this.stats.bytes -= b.length;
      this.stats.evictions++;
    }
  }

  /** Drops the blocks whose key starts with `prefix` (a segment deleted by retention). */
  dropPrefix(prefix: string): void {
    for (const [k, b] of this.blocks) {
      if (!k.startsWith(prefix)) continue;
      this.blocks.delete(k);
      this.stats.bytes -= b.length;
    }
  }

  hitRatio(): number {
    const total = this.stats.hits + this.stats.misses;
    return total === 0 ? 0 : this.stats.hits / total;
  }
}
