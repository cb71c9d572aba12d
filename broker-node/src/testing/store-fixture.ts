/**
 * The store tests' shared setup: a fresh temp folder per test, stores opened over it with a
 * suite's defaults, and everything shut down and deleted after each test, whatever the test
 * left open. Call at the top level of a test file (it registers beforeEach/afterEach).
 *
 *   const fx = useStoreFixture({ commitLogSegmentBytes: 4096, consumeQueueUnitsPerFile: 8, flushIntervalMs: 10 });
 *   it('...', async () => {
 *     const store = fx.open();                 // loaded, over fx.dir
 *     const again = await fx.reopen();         // every open store shut down first
 *   });
 */
import { afterEach, beforeEach } from 'vitest';
import { silentLogger } from '@cirrusmq/client/protocol';
import { DefaultMessageStore } from '../store/message-store';
import type { MessageStoreConfig } from '../store/message-store-types';
import { removeDir, tempDir } from './fixtures';

export interface TempDirFixture {
  /** This test's folder (a new one per test, deleted after it). */
  readonly dir: string;
  /** Runs after the test, before the folder is deleted (newest first): closes what the test opened. */
  onCleanup(fn: () => unknown): void;
}

export type StoreDefaults = Omit<MessageStoreConfig, 'storeDir'>;

export interface StoreFixture extends TempDirFixture {
  /** A store over `dir` with the suite's defaults and `overrides`, loaded; shut down after the test. */
  open(overrides?: Partial<MessageStoreConfig>): DefaultMessageStore;
  /** Shuts down every store still open, then opens a new one. */
  reopen(overrides?: Partial<MessageStoreConfig>): Promise<DefaultMessageStore>;
  /** Shuts down every store still open (a clean stop). */
  closeAll(): Promise<void>;
  /** Stops tracking `store` (after simulateCrash: it must not be shut down cleanly). */
  forget(store: DefaultMessageStore): void;
  /** The stores open now, oldest first. */
  readonly stores: readonly DefaultMessageStore[];
}

/** A temp folder per test, with cleanups run before it is deleted. */
export function useTempDir(prefix?: string): TempDirFixture {
  let dir = '';
  let cleanups: (() => unknown)[] = [];
  beforeEach(() => {
    dir = tempDir(prefix);
  });
  afterEach(async () => {
    const fns = cleanups.reverse();
    cleanups = [];
    try {
      for (const fn of fns) await fn();
    } finally {
      removeDir(dir);
    }
  });
  return {
    get dir() {
      return dir;
    },
    onCleanup(fn) {
      cleanups.push(fn);
    },
  };
}

/** useTempDir plus DefaultMessageStores opened over it (see the top). */
export function useStoreFixture(defaults: StoreDefaults, prefix?: string): StoreFixture {
  const tmp = useTempDir(prefix);
  let stores: DefaultMessageStore[] = [];
  const closeAll = async () => {
    const open = stores;
    stores = [];
    for (const s of open) await s.shutdown();
  };
  afterEach(closeAll);
  const open = (overrides: Partial<MessageStoreConfig> = {}) => {
    const store = new DefaultMessageStore({ ...defaults, storeDir: tmp.dir, ...overrides }, silentLogger);
    stores.push(store.load());
    return store;
  };
  return {
    get dir() {
      return tmp.dir;
    },
    onCleanup: tmp.onCleanup,
    open,
    async reopen(overrides) {
      await closeAll();
      return open(overrides);
    },
    closeAll,
    forget(store) {
      stores = stores.filter((s) => s !== store);
    },
    get stores() {
      return stores;
    },
  };
}
