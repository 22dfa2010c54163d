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
  // The handlers go in before the app is built: its BullMQ workers take jobs during init, and a
  // SIGTERM arriving then must still drain them, not kill the process mid-job. Closing runs the
  // workers' close(): the current job finishes (or its lock is released and it is handed back),
  // then the pool closes; exit 0 so supervisors see a clean stop. Later signals are ignored.
  const starting = createWorkerApp(config);
  let closing = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) return;
      closing = true;
      starting
        .then((app) => app.close())
        .then(
          () => process.exit(0),
          (err: Error) => {
            console.error(`shutdown failed: ${err.message}`);
            process.exit(1);
          },
        );
    });
  }
  const app = await starting;
  // API_WORKERS as set for this process, else the default for this machine (what an API here would run).
  await checkConnectionBudget(app, config, effectiveApiWorkers(config));
  console.log('Echo worker started');
}

void main();
