/**
 * `@cirrusmq/client/server`: helpers for the runtimes' processes (a folder's single-owner
 * lock, `--help` handling, bounded per-topic metric series), kept out of the SDK and
 * protocol entries because an application never needs them.
 */
export * from './folder-lock.js';
export * from './help.js';
export * from './topic-series.js';
