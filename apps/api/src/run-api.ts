import cluster from 'node:cluster';
import { effectiveApiWorkers, type AppConfig } from '@echo/config';
import { checkConnectionBudget } from '@echo/database';
import { answerClusterMetricsRequests } from '@echo/metrics';
import { drainOnSignals, loadConfigOrExit } from '@echo/process';

/**
 * API_WORKERS processes (default: computed from CPUs and memory, see api-workers.ts). One: this
 * process serves HTTP itself. More: this process becomes the node:cluster primary
 * (cluster-primary.ts) and each forked worker runs serve() on the shared port.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const workers = effectiveApiWorkers(config);
  if (workers > 1 && cluster.isPrimary) {
    // Only the primary's code: the Nest app is never loaded in this process.
    const { runPrimary } = await import('./cluster-primary.js');
    runPrimary(config, workers);
    return;
  }
  await serve(config, workers);
}

async function serve(config: AppConfig, workers: number): Promise<void> {
  if (cluster.isWorker) answerClusterMetricsRequests();
  const { createApiApp } = await import('./create-api-app.js');
  const app = await createApiApp(config, { shutdownHooks: false });
  drainOnSignals(Promise.resolve(app));
  // A deep accept backlog: Node's default (511) drops SYNs under a burst of 1000 connections.
  await app.listen({ port: config.http.port, host: config.http.host, backlog: 4096 });
  await checkConnectionBudget(app, config, workers);
  if (cluster.isWorker) return; // the primary announces the cluster
  const shown = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  const mode = config.embeddedDatabase
    ? `embedded (SQLite ${config.database.sqlitePath}, in-memory cache, in-process jobs)`
    : 'MySQL + Redis';
  console.log(`Echo API listening on http://${shown}:${config.http.port} — docs at /docs — ${mode}`);
}

void main();
