import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { pubsub } from '@echo/redis';
import { traceToken } from '@echo/telemetry';
import { compareEventIds, parseEventId, type EventType, type StoredEvent } from './analysis-event.js';
import { AnalysisEventBus, type EventListener, type Replay } from './event-bus.js';
import { EventsRedis } from './events-redis.js';

// One round trip, atomic: append to the user's capped stream, refresh its expiry, announce it on
// the channel of the same name (one key: one Cluster slot; in Cluster, SPUBLISH to that slot's
// shard instead of PUBLISH to every node). An event of another type than `analysis` (ARGV[4])
// also stores field `t` and is announced as `<id> <type> <data>`; an analysis event keeps the
// original `<id> <data>` form (data is a JSON object, so it starts with `{` and a type never does).
// With tracing on, the announcement (not the stored entry) also carries the publishing span as
// `~<traceparent>` right after the id (ARGV[5]): the process that sends it on an event stream
// continues that trace.
const publishScript = (command: 'PUBLISH' | 'SPUBLISH') => `
local id
local tp = ''
if ARGV[5] ~= nil and ARGV[5] ~= '' then tp = '~' .. ARGV[5] .. ' ' end
if ARGV[4] == '' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'd', ARGV[2])
  redis.call('${command}', KEYS[1], id .. ' ' .. tp .. ARGV[2])
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'd', ARGV[2], 't', ARGV[4])
  redis.call('${command}', KEYS[1], id .. ' ' .. tp .. ARGV[4] .. ' ' .. ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return id
`;

type Entry = [id: string, fields: string[]];
const toEvent = ([id, fields]: Entry): StoredEvent => {
  const type = fields[2] === 't' ? eventType(fields[3]) : undefined;
  return { id, data: fields[1], ...(type && { type }) };
};

/** A stored or announced type: one of ours, else undefined (read as `analysis`). */
function eventType(value: string | undefined): Exclude<EventType, 'analysis'> | undefined {
  return value === 'export' ? value : undefined;
}

/** `<id> [~<traceparent>] <data>` or `<id> [~<traceparent>] <type> <data>` (see publishScript). */
export function parseAnnouncement(message: string): StoredEvent {
  const space = message.indexOf(' ');
  const id = message.slice(0, space);
  let rest = message.slice(space + 1);
  let trace: { trace: string } | undefined;
  if (rest.startsWith('~')) {
    const end = rest.indexOf(' ');
    trace = { trace: rest.slice(1, end) };
    rest = rest.slice(end + 1);
  }
  if (rest.startsWith('{')) return { id, data: rest, ...trace };
  const next = rest.indexOf(' ');
  const type = eventType(rest.slice(0, next));
  return { id, data: rest.slice(next + 1), ...(type && { type }), ...trace };
}

/**
 * Per user: a Redis stream capped at SSE_REPLAY_EVENTS entries that expires SSE_REPLAY_SECONDS
 * after its last event (the replay window), and a pub/sub channel of the same name (live).
 * A process subscribes to a user's channel while it has at least one stream open for them.
 */
@Injectable()
export class RedisEventBus extends AnalysisEventBus {
  private readonly logger = new Logger('AnalysisEvents');
  private readonly listeners = new Map<string, Set<EventListener>>();
  private readonly subscribing = new Map<string, Promise<unknown>>();
  private wired = false;

  constructor(
    private readonly redis: EventsRedis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  private key(userId: number): string {
    return `${this.redis.prefix}:${userId}`;
  }

  async publish(userId: number, data: string, type?: EventType): Promise<string> {
    const { replayMax, replayTtlMs } = this.config.events;
    const client = this.redis.client!;
    const script = publishScript(pubsub.scriptCommand(client));
    const typeArg = type && type !== 'analysis' ? type : '';
    return (await client.eval(
      script,
      1,
      this.key(userId),
      replayMax,
      data,
      replayTtlMs,
      typeArg,
      traceToken(),
    )) as string;
  }

  async subscribe(userId: number, listener: EventListener): Promise<() => void> {
    const sub = this.wire();
    const channel = this.key(userId);
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      this.subscribing.set(channel, pubsub.subscribe(sub, channel));
    }
    set.add(listener);
    const stop = () => {
      if (!set.delete(listener) || set.size || this.listeners.get(channel) !== set) return;
      this.listeners.delete(channel);
      this.subscribing.delete(channel);
      void pubsub.unsubscribe(sub, channel).catch(() => undefined);
    };
    try {
      await this.subscribing.get(channel);
    } catch (err) {
      // Not subscribed: the stream is refused (503) rather than left without live events.
      stop();
      throw err;
    }
    return stop;
  }

  async replay(userId: number, lastId: string): Promise<Replay> {
    const key = this.key(userId);
    const results = await this.redis
      .client!.multi()
      .xrange(key, lastId, lastId)
      .xrange(key, '-', '+', 'COUNT', 1)
      .xrange(key, `(${lastId}`, '+', 'COUNT', this.config.events.replayMax)
      .time()
      .exec();
    const [self, oldest, after, time] = (results ?? []).map(([err, value]) => {
      if (err) throw err;
      return value as Entry[];
    });
    // Redis's clock, as the ids XADD makes: a new event's id is always after this one.
    const nowMs =
      Number((time as unknown as [string, string])[0]) * 1000 +
      Math.floor(Number((time as unknown as [string, string])[1]) / 1000);
    const events = after.map(toEvent);
    const latestId = events.at(-1)?.id;
    if (self.length) return { events, gap: false, latestId };
    // The last seen event is gone: trimmed (older events than it were dropped), or the window
    // expired (nothing left, and the id is older than the window).
    const trimmed = oldest.length > 0 && compareEventIds(oldest[0][0], lastId) > 0;
    const expired = oldest.length === 0 && parseEventId(lastId)![0] < nowMs - this.config.events.replayTtlMs;
    return { events, gap: trimmed || expired, latestId: latestId ?? (oldest.length ? undefined : `${nowMs - 1}-0`) };
  }

  private wire() {
    const sub = this.redis.subscriber();
    if (this.wired) return sub;
    this.wired = true;
    sub.on(pubsub.messageEvent(sub), (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      const event = parseAnnouncement(message);
      for (const listener of set) listener.event(event);
    });
    // ioredis re-subscribes after a reconnect; what was published meanwhile only reached the stream.
    let connectedOnce = false;
    sub.on('ready', () => {
      if (!connectedOnce) {
        connectedOnce = true;
        return;
      }
      this.logger.warn('event subscriber reconnected; open streams catch up from the replay window');
      for (const set of this.listeners.values()) for (const listener of set) listener.interrupted();
    });
    return sub;
  }
}
