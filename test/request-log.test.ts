import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesUp } from './support/app.js';
import { createTestDatabase, uniquePrefix } from './support/services.js';
import { builtEnv, distBuilt, EchoProcess, freePort, migrateBuilt } from './support/processes.js';
import { waitFor } from './support/wait.js';

interface RequestLine {
  msg: string;
  app: string;
  req: { id: string; method: string; url: string; headers?: unknown };
  res: { statusCode: number };
  responseTime: number;
}

/**
 * The API's request log (pino-http from a Fastify hook, see libs/http/src/logging.ts): one JSON
 * line per request, with the id the client sees in X-Request-Id, credentials kept out.
 */
const built = distBuilt('api') && distBuilt('cli');
describe.skipIf(!servicesUp() || !built)('request log of a built API process (LOG_LEVEL=info)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let api: EchoProcess;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase('reqlog');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = builtEnv(db.url, uniquePrefix('reqlog'), { PORT: String(port), API_WORKERS: '1', LOG_LEVEL: 'info' });
    await migrateBuilt(env);
    api = EchoProcess.spawn('api', env);
    await waitFor(
      async () => (await fetch(`${base}/health`).catch(() => undefined))?.status === 200,
      40_000,
      '/health',
    );
  }, 90_000);
  afterAll(async () => {
    await api?.kill();
    await db?.drop();
  });

  const lines = (): RequestLine[] =>
    api.output
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes('"responseTime"'))
      .map((line) => JSON.parse(line) as RequestLine);

  it('logs each request once with its X-Request-Id, status and time; never the Authorization header or a signature', async () => {
    const res = await fetch(`${base}/api/uploads?page_size=5&sig=s3cr3t`, {
      headers: { authorization: 'Bearer not-a-token', 'x-request-id': 'trace-reqlog-1' },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe('trace-reqlog-1');
    const own = await fetch(`${base}/api/nothing-here`);
    expect(own.status).toBe(404);
    const ownId = own.headers.get('x-request-id')!;

    const logged = await waitFor(
      async () => {
        const found = lines().filter((l) => ['trace-reqlog-1', ownId].includes(l.req.id));
        return found.length === 2 ? found : undefined;
      },
      5_000,
      'two request lines',
    );
    const [first, second] = logged;
    expect(first).toMatchObject({
      app: 'api',
      msg: 'request completed',
      req: { id: 'trace-reqlog-1', method: 'GET', url: '/api/uploads?page_size=5&sig=[redacted]' },
      res: { statusCode: 401 },
    });
    expect(first.responseTime).toBeGreaterThanOrEqual(0);
    expect(second).toMatchObject({ req: { id: ownId, url: '/api/nothing-here' }, res: { statusCode: 404 } });
    expect(api.output).not.toContain('not-a-token');
    expect(api.output).not.toContain('s3cr3t');
    expect(lines().filter((l) => l.req.id === 'trace-reqlog-1')).toHaveLength(1);
  });

  it('redacts every credential-like query parameter: ticket, token, access_token, jwt (issue 26, 3.8)', async () => {
    const res = await fetch(
      `${base}/api/uploads?ticket=t1ck3t&token=t0k3n&access_token=acc3ss&jwt=jwt53cr3t&refresh_token=r3fr3sh&page=2`,
      { headers: { 'x-request-id': 'trace-reqlog-secrets' } },
    );
    expect(res.status).toBe(401);
    const [line] = await waitFor(
      async () => {
        const found = lines().filter((l) => l.req.id === 'trace-reqlog-secrets');
        return found.length ? found : undefined;
      },
      5_000,
      'the request line',
    );
    expect(line.req.url).toBe(
      '/api/uploads?ticket=[redacted]&token=[redacted]&access_token=[redacted]&jwt=[redacted]&refresh_token=[redacted]&page=2',
    );
    for (const secret of ['t1ck3t', 't0k3n', 'acc3ss', 'jwt53cr3t', 'r3fr3sh'])
      expect(api.output).not.toContain(secret);
  });
});
