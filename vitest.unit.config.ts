import { defineConfig } from 'vitest/config';

/**
 * Unit tests: the `*.spec.ts` beside the code, pure logic only. No global setup, no MariaDB or
 * Redis, so `npm run test:unit` runs anywhere in seconds. The e2e suite is vitest.config.ts.
 */
export default defineConfig({
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
  resolve: { tsconfigPaths: true },
  test: {
    include: ['libs/**/*.spec.ts', 'apps/**/*.spec.ts', 'scripts/**/*.spec.js'],
    testTimeout: 5_000,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
