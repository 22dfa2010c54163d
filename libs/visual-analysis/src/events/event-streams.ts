import {
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  ServiceUnavailableException,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type MessageEvent,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Observable } from 'rxjs';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { FieldErrorsException } from '@echo/http';
import { addMetricsSource } from '@echo/metrics';
import { inMessageSpan } from '@echo/telemetry';
import { Authenticator, UsersService } from '@echo/users';
import { compareEventIds, parseEventId, type StoredEvent } from './analysis-event.js';
import { AnalysisEventBus, type Replay } from './event-bus.js';
import { ConnectionSlots, type Slot } from './connection-slots.js';

class TooManyStreams extends HttpException {
  readonly headers = { 'retry-after': '5' };
  constructor(cap: number) {
    super(`Too many open event streams (at most ${cap} per user); close one and retry.`, HttpStatus.TOO_MANY_REQUESTS);
  }
}

class ProcessFull extends ServiceUnavailableException {
  readonly retryAfter = 5;
  constructor() {
    super('Too many open event streams on this server; retry shortly.');
  }
}

/**
 * Opens one user's analysis event stream: takes a connection slot, subscribes to the user's live
 * events, replays what a resuming client missed, then streams live events and a heartbeat.
 * Everything that can refuse the stream (cap, Redis away, a bad id) happens before the first
 * byte, so it is a plain DRF error response.
 */
@Injectable()
export class AnalysisEventStreams implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('AnalysisEvents');
  /** Every open stream, whichever way it will end: each end goes through EventStream.close. */
  private readonly streams = new Set<EventStream>();
  /** echo_event_streams_open reads the set itself, so the gauge cannot drift from it. */
  private readonly detachMetrics = addMetricsSource({ eventStreamsOpen: () => this.streams.size });
  /** Streams past the process cap check but not yet in `streams` (waiting for their user slot). */
  private opening = 0;

  constructor(
    private readonly bus: AnalysisEventBus,
    private readonly slots: ConnectionSlots,
    private readonly moduleRef: ModuleRef,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async open(userId: number, lastEventId: string | undefined, signal: AbortSignal): Promise<Observable<MessageEvent>> {
    if (lastEventId !== undefined && !parseEventId(lastEventId)) {
      throw new FieldErrorsException({ last_event_id: ['Not an event id of this stream.'] });
    }
    // SSE_MAX_CONNECTIONS per process, whoever opens them; counted before the first await so a
    // burst cannot pass the check together.
    if (this.streams.size + this.opening >= this.config.events.maxConnections) throw new ProcessFull();
    this.opening++;
    let slot: Slot | undefined;
    try {
      slot = await this.slots.acquire(userId).catch((err: Error) => this.unavailable(err));
    } finally {
      this.opening--;
    }
    if (!slot) throw new TooManyStreams(this.config.events.maxConnectionsPerUser);
    const stream = new EventStream(userId, lastEventId, slot, this.bus, this.config.events.replayMax, () =>
      this.streams.delete(stream),
    );
    this.streams.add(stream);
    // Nest aborts the signal on every end of the request (client gone, error, completion),
    // including before it subscribes to what is returned here.
    signal.addEventListener('abort', () => stream.close(), { once: true });
    try {
      await stream.start();
    } catch (err) {
      stream.close();
      this.unavailable(err as Error);
    }
    if (signal.aborted) stream.close();
    const users = this.moduleRef.get(UsersService, { strict: false });
    const authenticator = this.moduleRef.get(Authenticator, { strict: false });
    // The session generation the stream was opened in: "log out everywhere" ends it too.
    const version = (await users.findCached(userId))?.token_version ?? 0;
    return stream.events(this.config.events.heartbeatMs, () =>
      authenticator.activeUser(userId, version).then(
        () => true,
        () => false,
      ),
    );
  }

  /**
   * Ends every open stream before the HTTP server closes, which would otherwise wait for them
   * for good; clients reconnect (to another process) with their Last-Event-ID.
   */
  beforeApplicationShutdown(): void {
    for (const stream of this.streams) stream.close();
  }

  onApplicationShutdown(): void {
    this.detachMetrics();
  }

  private unavailable(err: Error): never {
    this.logger.warn(`event stream refused, Redis unavailable: ${err.message}`);
    throw Object.assign(new ServiceUnavailableException(), { retryAfter: 5 });
  }
}

/** One open stream. Live events wait in `held` only while a replay runs (bounded). */
class EventStream {
  private lastSent?: string;
  private held: StoredEvent[] | undefined = [];
  private emit?: (message: MessageEvent) => void;
  private end?: () => void;
  private unsubscribe?: () => void;
  private closed = false;

  constructor(
    private readonly userId: number,
    private readonly lastEventId: string | undefined,
    private readonly slot: Slot,
    private readonly bus: AnalysisEventBus,
    private readonly holdMax: number,
    private readonly onClose: () => void,
  ) {
    this.lastSent = lastEventId;
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.bus.subscribe(this.userId, {
      event: (event) => this.onLive(event),
      interrupted: () => void this.catchUp(),
    });
    if (this.lastEventId) this.deliver(await this.bus.replay(this.userId, this.lastEventId));
  }

  events(heartbeatMs: number, stillActive: () => Promise<boolean>): Observable<MessageEvent> {
    return new Observable<MessageEvent>((subscriber) => {
      if (this.closed) return subscriber.complete();
      const queued = this.queuedBeforeSubscribe;
      this.emit = (message) => subscriber.next(message);
      this.end = () => subscriber.complete();
      // A comment sends the headers at once (Nest writes them with the first message).
      subscriber.next({ comment: 'connected' });
      for (const message of queued) subscriber.next(message);
      this.queuedBeforeSubscribe = [];
      this.releaseHeld();
      const heartbeat = setInterval(() => {
        subscriber.next({ comment: 'ping' });
        void this.slot.refresh().catch(() => undefined);
        // A user deactivated meanwhile loses the stream; EventSource's reconnect then gets 401.
        void stillActive().then(
          (ok) => ok || subscriber.complete(),
          () => undefined,
        );
      }, heartbeatMs);
      return () => {
        clearInterval(heartbeat);
        this.close();
      };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.unsubscribe?.();
    void this.slot.release().catch(() => undefined);
    this.end?.();
  }

  // --- delivery ---

  private queuedBeforeSubscribe: MessageEvent[] = [];

  private send(message: MessageEvent): void {
    if (this.emit) this.emit(message);
    else this.queuedBeforeSubscribe.push(message);
  }

  private onLive(event: StoredEvent): void {
    if (!this.held) {
      // In the trace of the change that published it (the upload's, the worker's job), when traced.
      const attributes = { 'echo.event.type': event.type ?? 'analysis', 'enduser.id': String(this.userId) };
      return inMessageSpan(event.trace, 'event-stream send', attributes, () => this.sendEvent(event));
    }
    this.held.push(event);
    // Too much arrived during a replay: end the stream; the client resumes from its last id.
    if (this.held.length > this.holdMax) this.close();
  }

  private sendEvent(event: StoredEvent): void {
    if (this.lastSent && compareEventIds(event.id, this.lastSent) <= 0) return;
    this.lastSent = event.id;
    this.send({ id: event.id, type: event.type ?? 'analysis', data: event.data });
  }

  private deliver(replay: Replay): void {
    if (replay.gap) {
      // Events fell out of the window: the client reloads its list, then follows from here.
      const id = replay.latestId ?? this.lastSent!;
      this.lastSent = id;
      this.send({
        id,
        type: 'resync',
        data: JSON.stringify({ detail: 'Some events are no longer available; reload the analyses.' }),
      });
      return;
    }
    for (const event of replay.events) this.sendEvent(event);
  }

  private releaseHeld(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const event of held) this.sendEvent(event);
  }

  /** After the live feed was interrupted: replay from the last event sent, holding live ones. */
  private async catchUp(): Promise<void> {
    if (this.closed || !this.lastSent || this.held) return;
    this.held = [];
    try {
      this.deliver(await this.bus.replay(this.userId, this.lastSent));
      this.releaseHeld();
    } catch {
      this.close();
    }
  }
}
