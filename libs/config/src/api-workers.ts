import { availableParallelism, totalmem } from 'node:os';

const GiB = 1024 ** 3;

/** What the default API process count is computed from. */
export interface MachineSize {
  cpus: number;
  memoryBytes: number;
}

/**
 * API processes when API_WORKERS is unset: `max(1, min(floor(cpus × 0.6), floor((memory_GiB − 2) / 0.5), 64))`.
 *
 * - 0.6 per core: Node is one event loop per process, and the rest of the box goes to the BullMQ
 *   worker (sharp), MySQL/Redis when co-located, and the kernel.
 * - memory: 2 GiB kept for everything else, then 0.5 GiB per API process (RSS under upload load).
 *
 * E.g. 1c/1G → 1, 2c/4G → 1, 4c/8G → 2, 8c/16G → 4, 16c/32G → 9, 32c/64G → 19, 64c/8G → 12 (memory-bound).
 */
export function defaultApiWorkers({ cpus, memoryBytes }: MachineSize): number {
  const byCpu = Math.floor(cpus * 0.6);
  const byMemory = Math.floor((memoryBytes / GiB - 2) / 0.5);
  return Math.max(1, Math.min(byCpu, byMemory, 64));
}

/** This machine: CPUs available to the process, memory capped by the cgroup limit when there is one. */
export function thisMachine(): MachineSize {
  const total = totalmem();
  const constrained = process.constrainedMemory?.() ?? 0;
  return { cpus: availableParallelism(), memoryBytes: constrained > 0 && constrained < total ? constrained : total };
}

/**
 * API_WORKERS if set, else the default for this machine. Embedded mode (no DATABASE_URL or no
 * REDIS_URL) always runs one process: SQLite, the in-memory cache and in-process jobs are per process.
 */
export function effectiveApiWorkers(config: {
  embeddedDatabase: boolean;
  embeddedRedis: boolean;
  processes: { apiWorkers?: number };
}): number {
  if (config.embeddedDatabase || config.embeddedRedis) return 1;
  return config.processes.apiWorkers ?? defaultApiWorkers(thisMachine());
}
