import { ConfigError, loadConfig } from '@echo/config';
import { createWorkerApp } from './create-worker-app.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  if (!config.redis.url) {
    console.error('REDIS_URL: the worker app needs Redis (in embedded mode the API runs jobs in-process)');
    process.exit(1);
  }
  await createWorkerApp(config);
  console.log('Echo worker started');
}

void main();
