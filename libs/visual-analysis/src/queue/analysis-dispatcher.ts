/**
 * Where analyses go to be run: BullMQ (worker app) with Redis, or in-process in embedded mode.
 * Every operation is idempotent per analysis id.
 */
export abstract class AnalysisDispatcher {
  /** Add the job (jobId = analysis id: adding twice is a no-op). */
  abstract enqueue(analysisId: string): Promise<void>;
  /** Is a job for it waiting, delayed or running right now? */
  abstract isPending(analysisId: string): Promise<boolean>;
  /** Replace whatever job is left for it (finished, failed, lost) with a fresh one. */
  abstract requeue(analysisId: string): Promise<void>;
  /** Job counts per queue and state, for operators. */
  abstract counts(): Promise<Record<string, Record<string, number>>>;
  /** Per queue (those `counts` names), seconds the job next in line has waited; 0 when none waits. */
  abstract oldestWaiting(): Promise<Record<string, number>>;
}
