import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsAccess } from './access.js';

export interface MetricsServerOptions {
  host: string;
  port: number;
  token?: string;
  render: () => Promise<{ contentType: string; body: string }>;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * A bare node:http server answering `GET /metrics` (the worker app's, and the cluster primary's
 * aggregated metrics), with the same access rule as the API's /metrics (see access.ts).
 * Rejects if the port cannot be bound.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const json = (status: number, detail: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ detail }));
    };
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return json(404, 'Not found.');
    const access = metricsAccess(options.token, req.headers, req.socket.remoteAddress);
    if (access === 'hidden') return json(404, 'Not found.');
    if (access === 'unauthorized')
      return json(401, 'Authentication credentials were not provided.', {
        'www-authenticate': 'Bearer realm="metrics"',
      });
    options.render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: Error) => json(503, `Metrics are unavailable right now: ${err.message}`),
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
