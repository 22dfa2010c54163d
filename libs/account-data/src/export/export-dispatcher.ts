/**
 * Runs export jobs: BullMQ in the worker app, or this process in embedded mode. Adding the same
 * export twice is a no-op (the job id is the export id).
 */
export abstract class ExportDispatcher {
  abstract enqueue(exportId: string): Promise<void>;
  /** True while a job for the export waits, is delayed (a retry) or runs. */
  abstract isPending(exportId: string): Promise<boolean>;
  /** Adds a job again for an export whose job was lost (Redis flushed, a finished job kept in history). */
  abstract requeue(exportId: string): Promise<void>;
}

/** The job that builds an archive; its data is `{ exportId }`. */
export const EXPORT_JOB = 'export';
/** The repeatable job that removes expired exports and re-enqueues lost ones. */
export const SWEEP_EXPORTS_JOB = 'sweep-exports';
