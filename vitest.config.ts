import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Vitest's own server conditions (Vite's without 'module', whose ESM builds of the AWS SDK Node cannot load) + ours.
const SERVER_CONDITIONS = ['cirrusmq-source', ...defaultServerConditions.filter((c) => c !== 'module')];

export default defineConfig({
  // @cirrusmq/client resolves to its TypeScript source, as in tsconfig.json (no build step).
  ssr: { resolve: { conditions: SERVER_CONDITIONS } },
  resolve: { conditions: SERVER_CONDITIONS },
  test: {
    include: [
      'client/**/*.test.ts',
      'broker-node/**/*.test.ts',
      'functions/**/*.test.ts',
      'grpc-proxy/**/*.test.ts',
      'infra/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Process tests start clusters on their own ports; two files at once fit on 2 cores.
    maxWorkers: 2,
  },
});
