import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Vitest's own server conditions (Vite's without 'module', whose ESM builds of the AWS SDK Node cannot load) + ours.
const SERVER_CONDITIONS = ['cirrusmq-source', ...defaultServerConditions.filter((c) => c !== 'module')];

/** npm run test:crash: the SIGKILL and power-loss rounds of test/crash/*.crash.ts (CRASH_ROUNDS, default 5; CI runs 2). */
export default defineConfig({
  // @cirrusmq/client resolves to its TypeScript source, as in tsconfig.json (no build step).
  ssr: { resolve: { conditions: SERVER_CONDITIONS } },
  resolve: { conditions: SERVER_CONDITIONS },
  test: {
    include: ['test/crash/**/*.crash.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
});
