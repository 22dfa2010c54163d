import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { Logger } from 'nestjs-pino';
import type { AppConfig } from '@echo/config';
import { WorkerModule } from './worker.module.js';

/** Builds the worker (an application context: no HTTP). Used by main.ts and the tests. */
export async function createWorkerApp(
  config: AppConfig,
  options: { logger?: boolean } = {},
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.register(config), {
    bufferLogs: true,
    logger: options.logger === false ? false : undefined,
  });
  if (options.logger !== false) app.useLogger(app.get(Logger));
  app.flushLogs();
  return app;
}
