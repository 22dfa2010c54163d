import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a shared server (MariaDB), so a test can make it refuse new
 * connections and drop the open ones without touching the server itself.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  /** Bytes clients sent through the proxy (to the target), for tests that measure what went over the wire. */
  bytesUp = 0;
  /** Called with the running `bytesUp` total as client bytes pass (e.g. to cut the line at a point). */
  onUp?: (bytesUp: number) => void;

  constructor(
    private readonly target: { host: string; port: number },
    public port = 0,
  ) {}

  async listen(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (chunk: Buffer) => {
        this.bytesUp += chunk.length;
        this.onUp?.(this.bytesUp);
      });
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Drops every open connection (a network cut); new ones are still accepted. */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** New connections are refused (ECONNREFUSED) and every open one is dropped. */
  async refuse(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async close(): Promise<void> {
    await this.refuse();
  }
}
