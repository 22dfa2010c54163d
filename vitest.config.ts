import { defineConfig } from 'vitest/config';

export default defineConfig({
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
  resolve: { tsconfigPaths: true },
  test: {
    // Unit specs (libs/**/*.spec.ts) run in vitest.unit.config.ts, without the services.
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: two files at a time; each e2e file has its own database.
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
