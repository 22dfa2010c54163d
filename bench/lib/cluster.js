// A Redis Cluster for the bench (issue 21 §2): three primaries + three replicas on free private
// ports in a temp dir, built with `redis-cli --cluster create`, so a run can measure Echo on
// Cluster next to the single-server figures (run.js's `cluster` scenario: see clusterPhase below).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);
const HOST = '127.0.0.1';

function listenable(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (+10000) is free too. */
async function freeNodePort(taken) {
  for (let i = 0; i < 200; i++) {
    const port = await new Promise((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, HOST, () => {
        const { port: p } = s.address();
        s.close(() => resolve(p));
      });
    });
    if (port + 10_000 > 65_535 || taken.has(port) || taken.has(port + 10_000)) continue;
    if (await listenable(port + 10_000)) {
      taken.add(port).add(port + 10_000);
      return port;
    }
  }
  throw new Error('no free port pair for a cluster node');
}

async function info(port, section) {
  const redis = new Redis({ host: HOST, port, lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return section === 'cluster' ? await redis.call('CLUSTER', 'INFO') : await redis.info(section);
  } catch {
    return '';
  } finally {
    redis.disconnect();
  }
}

/**
 * Starts the cluster; `{ nodes: 'h:p,…' (REDIS_CLUSTER_NODES), stop() }`. Same server settings as
 * the single bench Redis would want for BullMQ (noeviction), nothing persisted.
 */
export async function startCluster({ nodeTimeoutMs = 5000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'echo-bench-cluster-'));
  const taken = new Set();
  const ports = [];
  for (let i = 0; i < 6; i++) ports.push(await freeNodePort(taken));
  const procs = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port', String(port), '--bind', HOST, '--protected-mode', 'no', '--dir', dir,
        '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction',
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', String(nodeTimeoutMs),
      ], // prettier-ignore
      { stdio: 'ignore' },
    ),
  );
  // The nodes are not in processes.js's registry (not process-group leaders): a harness exiting
  // without its cleanup (a second Ctrl-C) must not leave six redis-servers behind.
  const killAll = () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    await Promise.all(
      procs.map((p) =>
        p.exitCode !== null || p.signalCode !== null
          ? undefined
          : new Promise((resolve) => {
              p.once('exit', resolve);
              p.kill('SIGKILL');
            }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const deadline = Date.now() + 10_000;
      while (!(await info(port, 'server'))) {
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
        await sleep(100);
      }
    }
    const nodes = ports.map((p) => `${HOST}:${p}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '1', '--cluster-yes'], {
      timeout: 30_000,
    });
    const deadline = Date.now() + 20_000;
    for (const port of ports) {
      while (!(await info(port, 'cluster')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`cluster_state never ok on ${port}`);
        await sleep(100);
      }
    }
    return { nodes: nodes.join(','), ports, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The bench's Cluster scenario, called by run.js after the matrix. It re-measures the given
 * scenarios with the API and the worker on a 6-node Cluster and returns rows with `ratio` =
 * Cluster req/s ÷ the same scenario's single-server req/s (a ratio to report, not a timed
 * assertion) and `single` = that run's req/s and latencies.
 *
 * deps: { settings, state, scenarios, measure, restartApi, startWorker, names, rows? }
 *   measure(name, scenario, connections) → a run row with `rps` (run.js's measure)
 *   restartApi(label, env, logName) → boolean (run.js's; `undefined` in env removes a variable)
 */
export async function clusterPhase({
  settings,
  state,
  scenarios,
  measure,
  restartApi,
  startWorker,
  names,
  rows = [], // filled as it goes: an interrupted phase still reports the runs it finished
}) {
  const cluster = await startCluster();
  // The harness's cleanup stops it too if the run is interrupted mid-phase (its keys go with it:
  // nothing is persisted and its directory is removed).
  state.cluster = cluster;
  // One db in Cluster: cache and queue apart by prefix; REDIS_URL unset (exactly one topology).
  const env = {
    REDIS_URL: undefined,
    REDIS_CLUSTER_NODES: cluster.nodes,
    QUEUE_PREFIX: `${state.stack.prefix}_q`,
  };
  let worker;
  const singleWorker = state.worker;
  try {
    if (!(await restartApi('cluster', env, 'api-cluster'))) return rows;
    worker = await startWorker(state.stack, env, 'worker-cluster');
    state.worker = worker; // measure() samples state.worker's RSS
    for (const name of names)
      for (const connections of settings.connections) {
        console.log(`\n${name} on Redis Cluster with ${connections} connections for ${settings.duration} s`);
        const run = await measure(`${name} (cluster)`, scenarios[name], connections);
        const single = state.runs.find((r) => r.scenario === name && r.connections === connections);
        rows.push({
          ...run,
          of: name,
          single: single ? { rps: single.rps, latencyMs: single.latencyMs } : null,
          ratio: single?.rps ? run.rps / single.rps : null,
        });
        await sleep(settings.pause * 1000);
      }
  } finally {
    state.worker = singleWorker;
    await worker?.stop();
    await cluster.stop();
    state.cluster = null;
    // Back to the single server for whatever runs next.
    await restartApi('single server again', {}, 'api');
  }
  return rows;
}
