import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['client/**/*.test.ts', 'broker-node/**/*.test.ts', 'functions/**/*.test.ts', 'infra/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Process tests start clusters on their own ports; two files at once fit on 2 cores.
    maxWorkers: 2,
  },
});
