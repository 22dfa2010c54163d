import { defineConfig } from 'vitest/config';

export default defineConfig({
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
  resolve: { tsconfigPaths: true },
  test: {
    include: ['test/**/*.test.ts', 'libs/**/*.spec.ts', 'apps/**/*.spec.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: two files at a time; each e2e file has its own database.
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
