import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { compareEventIds, parseEventId, type EventType, type StoredEvent } from './analysis-event.js';
import { AnalysisEventBus, type EventListener, type Replay } from './event-bus.js';

// Users whose replay windows are kept at once; the longest-idle is dropped beyond it.
const MAX_USERS = 10_000;

/** Embedded mode (one process): the same window and delivery as RedisEventBus, in memory. */
@Injectable()
export class MemoryEventBus extends AnalysisEventBus {
  private readonly windows = new Map<number, { events: StoredEvent[]; touched: number }>();
  private readonly listeners = new Map<number, Set<EventListener>>();
  private lastMs = 0;
  private seq = 0;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    super();
  }

  async publish(userId: number, data: string, type?: EventType): Promise<string> {
    const now = Date.now();
    if (now > this.lastMs) [this.lastMs, this.seq] = [now, 0];
    else this.seq++;
    const event: StoredEvent = { id: `${this.lastMs}-${this.seq}`, data, ...(type && type !== 'analysis' && { type }) };
    const window = this.window(userId, now);
    window.events.push(event);
    window.touched = now;
    if (window.events.length > this.config.events.replayMax) window.events.shift();
    // Re-inserted so the Map's order is least recently used first.
    this.windows.delete(userId);
    this.windows.set(userId, window);
    if (this.windows.size > MAX_USERS) this.windows.delete(this.windows.keys().next().value!);
    for (const listener of this.listeners.get(userId) ?? []) listener.event(event);
    return event.id;
  }

  async subscribe(userId: number, listener: EventListener): Promise<() => void> {
    let set = this.listeners.get(userId);
    if (!set) this.listeners.set(userId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (!set.size && this.listeners.get(userId) === set) this.listeners.delete(userId);
    };
  }

  async replay(userId: number, lastId: string): Promise<Replay> {
    const events = this.window(userId, Date.now()).events;
    const after = events.filter((e) => compareEventIds(e.id, lastId) > 0);
    const latestId = after.at(-1)?.id;
    if (events.some((e) => e.id === lastId)) return { events: after, gap: false, latestId };
    const trimmed = events.length > 0 && compareEventIds(events[0].id, lastId) > 0;
    const expired = events.length === 0 && parseEventId(lastId)![0] < Date.now() - this.config.events.replayTtlMs;
    return {
      events: after,
      gap: trimmed || expired,
      latestId: latestId ?? (events.length ? undefined : `${Math.max(this.lastMs, Date.now() - 1)}-${this.seq}`),
    };
  }

  /** The user's window, emptied once SSE_REPLAY_SECONDS passed since its last event. */
  private window(userId: number, now: number) {
    const window = this.windows.get(userId) ?? { events: [], touched: now };
    if (now - window.touched > this.config.events.replayTtlMs) window.events = [];
    return window;
  }
}
