import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { EventsRedis } from './events-redis.js';

export const TICKET_TTL_MS = 60_000;
const TICKET = /^[A-Za-z0-9_-]{43}$/;
// Embedded mode: tickets outstanding at once (expired ones are swept first).
const MAX_LOCAL_TICKETS = 100_000;

const digest = (ticket: string) => createHash('sha256').update(ticket).digest('hex');

/**
 * Short-lived, single-use tickets that open one analysis event stream, for clients that cannot
 * send an Authorization header (a browser's EventSource). A ticket is random (not a JWT, so it
 * can never pass as an access token, nor an access token as a ticket), stored only as a hash,
 * and deleted as it is redeemed (GETDEL), in whichever API process.
 */
@Injectable()
export class StreamTickets {
  private readonly local = new Map<string, { userId: number; expires: number }>();

  constructor(
    private readonly redis: EventsRedis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async issue(userId: number): Promise<string> {
    const ticket = randomBytes(32).toString('base64url');
    const client = this.redis.client;
    if (client) {
      await client.set(this.key(ticket), String(userId), 'PX', TICKET_TTL_MS);
    } else {
      if (this.local.size >= MAX_LOCAL_TICKETS) this.sweep();
      if (this.local.size >= MAX_LOCAL_TICKETS) this.local.delete(this.local.keys().next().value!);
      this.local.set(digest(ticket), { userId, expires: Date.now() + TICKET_TTL_MS });
    }
    return ticket;
  }

  /** The ticket's user, once; undefined for anything else (unknown, used, expired, malformed). */
  async redeem(ticket: string): Promise<number | undefined> {
    if (!TICKET.test(ticket)) return undefined;
    const client = this.redis.client;
    if (client) {
      const userId = await client.getdel(this.key(ticket));
      return userId ? Number(userId) : undefined;
    }
    const entry = this.local.get(digest(ticket));
    this.local.delete(digest(ticket));
    return entry && entry.expires > Date.now() ? entry.userId : undefined;
  }

  private key(ticket: string): string {
    return `${this.config.cache.namespace}:stream-ticket:${digest(ticket)}`;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, v] of this.local) if (v.expires <= now) this.local.delete(k);
  }
}
