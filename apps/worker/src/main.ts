import { ConfigError, effectiveApiWorkers, loadConfig } from '@echo/config';
import { checkConnectionBudget } from '@echo/metrics';
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
  const app = await createWorkerApp(config);
  // Closing runs the BullMQ workers' close(): the current job finishes (or its lock is released
  // and it is handed back), then the pool closes; exit 0 so supervisors see a clean stop.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => void app.close().then(() => process.exit(0), () => process.exit(1)));
  }
  // API_WORKERS as set for this process, else the default for this machine (what an API here would run).
  await checkConnectionBudget(app, config, effectiveApiWorkers(config));
  console.log('Echo worker started');
}

void main();
