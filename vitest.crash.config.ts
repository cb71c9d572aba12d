import { defineConfig } from 'vitest/config';

/** npm run test:crash: the SIGKILL and power-loss rounds of test/crash/*.crash.ts (CRASH_ROUNDS, default 5; CI runs 2). */
export default defineConfig({
  test: {
    include: ['test/crash/**/*.crash.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
});
