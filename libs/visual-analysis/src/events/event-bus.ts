import type { EventType, StoredEvent } from './analysis-event.js';

/** Someone waiting for one user's events in this process (an open stream). */
export interface EventListener {
  event(event: StoredEvent): void;
  /** The live feed was interrupted (Redis reconnected): events may have been missed. */
  interrupted(): void;
}

/** What a reconnecting client missed since `lastId`. */
export interface Replay {
  events: StoredEvent[];
  /**
   * Events after `lastId` may have fallen out of the window (trimmed or expired): the client
   * should reload its list. `latestId` is then the id to continue from.
   */
  gap: boolean;
  latestId?: string;
}

/**
 * Analysis (and data export) events per user, from any process to any process: Redis (a capped stream per user for
 * replay, pub/sub for live delivery) or, in embedded mode, this process's memory.
 */
export abstract class AnalysisEventBus {
  /** Stores the event in the user's replay window and delivers it live; resolves to its id. */
  abstract publish(userId: number, data: string, type?: EventType): Promise<string>;
  /** Resolves once live delivery to `listener` is active; the function stops it. */
  abstract subscribe(userId: number, listener: EventListener): Promise<() => void>;
  /** Events after `lastId` still in the window, oldest first. */
  abstract replay(userId: number, lastId: string): Promise<Replay>;
}
