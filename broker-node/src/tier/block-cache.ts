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

  /** The cached block, or the shared fetch of it (a block read ahead and still coming counts as a hit). */
  get(key: string, fetch: () => Promise<Buffer>): Promise<Buffer> {
    const cached = this.blocks.get(key);
    if (cached) {
      this.stats.hits++;
      this.blocks.delete(key);
      this.blocks.set(key, cached);
      return Promise.resolve(cached);
    }
    const pending = this.inFlight.get(key);
    if (pending) {
      this.stats.hits++;
      return pending;
    }
    this.stats.misses++;
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

  /**
   * Fetches several blocks with one request (`fetch` answers their bytes back to back, each
   * `blockBytes` long but the last): fewer GETs for a sequential reader, each block cached on
   * its own. Blocks cached or in flight already must not be among `keys`.
   */
  prefetchSpan(keys: readonly string[], blockBytes: number, fetch: () => Promise<Buffer>): void {
    const span = fetch();
    this.stats.prefetches += keys.length;
    keys.forEach((key, i) => {
      const p = span.then(
        (bytes) => {
          this.inFlight.delete(key);
          const block = bytes.subarray(i * blockBytes, Math.min(bytes.length, (i + 1) * blockBytes));
          this.put(key, block);
          return block;
        },
        (err: unknown) => {
          this.inFlight.delete(key);
          throw err;
        },
      );
      // A failed read-ahead is not an error: a reader's own fetch retries and reports it.
      p.catch(() => {});
      this.inFlight.set(key, p);
    });
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
