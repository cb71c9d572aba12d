/**
 * The store's defaults, defined once: the broker's config (the env variables' defaults and
 * their --help) and the store's services (when a caller leaves a setting out) both read them,
 * so a default cannot differ between a broker started from the environment and a store opened
 * in code.
 */
const GiB = 1024 * 1024 * 1024;

export const STORE_DEFAULTS = {
  commitLogSegmentBytes: GiB,
  consumeQueueUnitsPerFile: 300_000,
  /** ASYNC_FLUSH: fdatasync period. */
  flushIntervalMs: 500,
  /** SYNC_FLUSH: a send not on disk within this answers FLUSH_DISK_TIMEOUT (RocketMQ's syncFlushTimeout). */
  syncFlushTimeoutMs: 5_000,
  /** RocketMQ's fileReservedTime: 72 h. */
  fileReservedTimeMs: 72 * 3_600_000,
  /** 0 = no byte budget. */
  diskBudgetBytes: 0,
  cleanIntervalMs: 10_000,
  indexHashSlotNum: 1_000_000,
  indexNum: 4_000_000,
} as const;
