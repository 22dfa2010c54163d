import type { AnalysisStatus, VisualAnalysis } from '../visual-analysis.entity.js';

/** What a completed analysis' event carries: enough to update a list item without a fetch. */
export interface AnalysisEventSummary {
  format: string;
  width: number;
  height: number;
  dominant_color: string;
  placeholder: string;
  near_duplicates: number;
}

/** The `data` of an `analysis` event on the wire (snake_case JSON). */
export interface AnalysisEventData {
  analysis_id: string;
  upload_id: string;
  status: AnalysisStatus;
  progress: number;
  attempts: number;
  /** Why it failed (or why the last attempt failed, while a retry is queued). */
  error: string | null;
  /** Only on `completed`. */
  summary: AnalysisEventSummary | null;
  /** When the status changed (ISO 8601, ms), as seen by the process that changed it. */
  at: string;
}

/**
 * The SSE event names of a user's stream: `analysis` (the default) and `export` (a data export's
 * progress, libs/account-data). Lower-case words, so the Redis message can carry one unambiguously.
 */
export const EVENT_TYPES = ['analysis', 'export'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One stored event: its id (a Redis stream id, `<ms>-<seq>`), its data as JSON, and its type (absent: `analysis`). */
export interface StoredEvent {
  id: string;
  data: string;
  type?: EventType;
  /** A live event's publishing span (`traceparent`), when traced: its delivery continues that trace. */
  trace?: string;
}

type Row = Pick<VisualAnalysis, 'id' | 'uploadId' | 'status' | 'progress' | 'attempts' | 'error' | 'result'>;

export function toAnalysisEventData(row: Row, at = new Date()): AnalysisEventData {
  const r = row.status === 'completed' ? row.result : null;
  return {
    analysis_id: row.id,
    upload_id: row.uploadId,
    status: row.status,
    progress: row.progress,
    attempts: row.attempts,
    error: row.error,
    summary: r
      ? {
          format: r.format,
          width: r.width,
          height: r.height,
          dominant_color: r.dominant_color,
          placeholder: r.placeholder,
          // The runner passes the near-duplicates it read for the event (stored results hold none).
          near_duplicates: r.near_duplicates?.length ?? 0,
        }
      : null,
    at: at.toISOString(),
  };
}

// Event ids are `<ms>-<seq>` (Redis stream ids); bounded so a header cannot smuggle anything.
const EVENT_ID = /^(\d{1,15})-(\d{1,15})$/;

export function parseEventId(value: string): [number, number] | undefined {
  const m = EVENT_ID.exec(value);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Orders two valid event ids: negative, zero or positive. */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = parseEventId(a)!;
  const [bm, bs] = parseEventId(b)!;
  return am - bm || as - bs;
}
