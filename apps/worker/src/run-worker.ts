import { effectiveApiWorkers } from '@echo/config';
import { checkConnectionBudget } from '@echo/database';
import { drainOnSignals, loadConfigOrExit } from '@echo/process';
import { createWorkerApp } from './create-worker-app.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  if (!config.redis.queue) {
    console.error(
      'REDIS_URL: the worker app needs Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES; in embedded mode the API runs jobs in-process)',
    );
    process.exit(1);
  }
  // Before the app is built: its BullMQ workers take jobs during init, and a SIGTERM then must
  // still drain them (the current job finishes or is handed back), not kill the process mid-job.
  const starting = createWorkerApp(config);
  drainOnSignals(starting);
  const app = await starting;
  // API_WORKERS as set for this process, else the default for this machine (what an API here would run).
  await checkConnectionBudget(app, config, effectiveApiWorkers(config));
  console.log('Echo worker started');
}

void main();
