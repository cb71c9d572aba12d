/**
 * How the Lambda handlers are bundled: one definition, used by the NodejsFunctions and by
 * test/cdk/lambda-bundles.test.ts, which builds the same bundles and calls them. Plain data
 * (no aws-cdk-lib import) so the test can read it cheaply.
 *
 * - CommonJS: the handlers have no top-level await, and CJS needs no `require` shim for the
 *   CommonJS packages inside (undici, the AWS SDK).
 * - Everything bundled, the AWS SDK too: the runtime's own SDK lags and drifts; a pinned,
 *   tested SDK in the bundle costs ~1 MB and a few ms of cold start.
 */
export const LAMBDA_BUNDLE = {
  format: 'cjs',
  /** The Lambda runtime's Node (nodejs22.x). */
  target: 'node22',
  minify: true,
  sourceMap: true,
  externalModules: [] as string[],
  /** @cirrusmq/client from its TypeScript source (client/package.json exports), no client build first. */
  conditions: ['cirrusmq-source'] as string[],
} as const;
