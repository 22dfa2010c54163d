import { request, type IncomingHttpHeaders } from 'node:http';
import { waitFor } from './wait.js';

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
  /** When this process parsed it (ms since the epoch). */
  receivedAt: number;
}

/**
 * A plain HTTP reader of a text/event-stream (the wire format, parsed by hand so the tests see
 * exactly what the server sends: ids, event names, comments).
 */
export class SseReader {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  body = '';
  ended = false;
  private buffer = '';
  private current: { id?: string; event?: string; data: string[] } = { data: [] };
  private destroy: () => void = () => undefined;

  private constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
  ) {}

  /** Resolves once the response headers arrived. */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
        const reader = new SseReader(res.statusCode ?? 0, res.headers);
        reader.destroy = () => req.destroy();
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => reader.feed(chunk));
        res.on('end', () => (reader.ended = true));
        res.on('error', () => (reader.ended = true));
        resolve(reader);
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** The `analysis` events' data, parsed. */
  analysis<T = Record<string, unknown>>(): Array<T & { event_id: string }> {
    return this.messages
      .filter((m) => m.event === 'analysis')
      .map((m) => ({ ...(JSON.parse(m.data) as T), event_id: m.id! }));
  }

  waitFor<T>(check: (reader: SseReader) => T | undefined | false, timeoutMs = 30_000, label = 'an event'): Promise<T> {
    return waitFor(async () => check(this), timeoutMs, label);
  }

  close(): void {
    this.destroy();
  }

  private feed(chunk: string): void {
    this.body += chunk;
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      if (line === '') {
        if (this.current.data.length || this.current.event) {
          this.messages.push({
            id: this.current.id,
            event: this.current.event ?? 'message',
            data: this.current.data.join('\n'),
            receivedAt: Date.now(),
          });
        }
        this.current = { data: [] };
      } else if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
      } else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') this.current.data.push(value);
        else if (field === 'id') this.current.id = value;
        else if (field === 'event') this.current.event = value;
      }
    }
  }
}
