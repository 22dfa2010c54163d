import { createHash, randomBytes } from 'node:crypto';
import { HttpException, HttpStatus, Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { EventsRedis } from './events-redis.js';

export const TICKET_TTL_MS = 60_000;
/** Tickets one user may be issued per TICKET_TTL_MS: a reconnecting page needs a few, not thousands. */
export const TICKETS_PER_WINDOW = 30;
const TICKET = /^[A-Za-z0-9_-]{43}$/;
// Embedded mode: tickets outstanding at once (expired ones are swept first).
const MAX_LOCAL_TICKETS = 100_000;

const digest = (ticket: string) => createHash('sha256').update(ticket).digest('hex');

/** Whom a ticket opens a stream for, and the session generation (users.token_version) it was issued in. */
export interface TicketHolder {
  userId: number;
  tokenVersion: number;
}

// Count the user's tickets in the window: 0 while under the limit, else the window's time left.
// One key (the ticket is stored by a separate SET: its key is the ticket's hash, which cannot
// share a Cluster slot with the user's counter, and redeeming knows only the ticket).
const COUNT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return redis.call('PTTL', KEYS[1]) end
return 0
`;

class TooManyTickets extends HttpException {
  readonly headers: Record<string, string>;
  constructor(retryMs: number) {
    super('Too many stream tickets requested; retry later.', HttpStatus.TOO_MANY_REQUESTS);
    this.headers = { 'retry-after': String(Math.max(1, Math.ceil(retryMs / 1000))) };
  }
}

/**
 * Short-lived, single-use tickets that open one analysis event stream, for clients that cannot
 * send an Authorization header (a browser's EventSource). A ticket is random (not a JWT, so it
 * can never pass as an access token, nor an access token as a ticket), stored only as a hash,
 * and deleted as it is redeemed (GETDEL), in whichever API process. It carries the token version of
 * the access token it was issued for, so "log out everywhere" or a password change voids it too.
 */
@Injectable()
export class StreamTickets {
  private readonly local = new Map<string, TicketHolder & { expires: number }>();
  private readonly issued = new Map<number, { count: number; resets: number }>();

  constructor(
    private readonly redis: EventsRedis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async issue({ userId, tokenVersion }: TicketHolder): Promise<string> {
    const ticket = randomBytes(32).toString('base64url');
    const client = this.redis.client;
    if (client) {
      const counter = `${this.config.cache.namespace}:stream-tickets-issued:${userId}`;
      const unavailable = () => {
        throw Object.assign(new ServiceUnavailableException(), { retryAfter: 5 });
      };
      // A count whose SET then fails only uses up one of the window's tickets.
      const retryMs = (await client
        .eval(COUNT, 1, counter, TICKET_TTL_MS, TICKETS_PER_WINDOW)
        .catch(unavailable)) as number;
      if (retryMs) throw new TooManyTickets(retryMs);
      await client.set(this.key(ticket), `${userId}:${tokenVersion}`, 'PX', TICKET_TTL_MS).catch(unavailable);
    } else {
      const now = Date.now();
      let window = this.issued.get(userId);
      if (!window || window.resets <= now)
        this.issued.set(userId, (window = { count: 0, resets: now + TICKET_TTL_MS }));
      if (++window.count > TICKETS_PER_WINDOW) throw new TooManyTickets(window.resets - now);
      if (this.local.size >= MAX_LOCAL_TICKETS || this.issued.size >= MAX_LOCAL_TICKETS) this.sweep();
      if (this.local.size >= MAX_LOCAL_TICKETS) this.local.delete(this.local.keys().next().value!);
      this.local.set(digest(ticket), { userId, tokenVersion, expires: Date.now() + TICKET_TTL_MS });
    }
    return ticket;
  }

  /**
   * The ticket's holder, once; undefined for anything else (unknown, used, expired, malformed).
   * The caller checks the token version against the user's current one.
   */
  async redeem(ticket: string): Promise<TicketHolder | undefined> {
    if (!TICKET.test(ticket)) return undefined;
    const client = this.redis.client;
    if (client) {
      // `<user>:<version>`; a value without a version (issued before tickets carried one) is refused.
      const match = /^(\d+):(\d+)$/.exec((await client.getdel(this.key(ticket))) ?? '');
      return match ? { userId: Number(match[1]), tokenVersion: Number(match[2]) } : undefined;
    }
    const entry = this.local.get(digest(ticket));
    this.local.delete(digest(ticket));
    return entry && entry.expires > Date.now() ? { userId: entry.userId, tokenVersion: entry.tokenVersion } : undefined;
  }

  private key(ticket: string): string {
    return `${this.config.cache.namespace}:stream-ticket:${digest(ticket)}`;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, v] of this.local) if (v.expires <= now) this.local.delete(k);
    for (const [k, v] of this.issued) if (v.resets <= now) this.issued.delete(k);
  }
}
