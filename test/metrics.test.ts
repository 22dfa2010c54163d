import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadConfig } from '@echo/config';
import { addMetricsSource, registry } from '@echo/metrics';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { register, registerAdmin, type Session } from './support/users.js';
import { multipart, noisePng, solidPng } from './support/images.js';
import { freePort } from './support/processes.js';
import { SseReader } from './support/sse.js';
import { waitFor } from './support/wait.js';
import { createApiApp } from '../apps/api/src/create-api-app.js';
import { createWorkerApp } from '../apps/worker/src/create-worker-app.js';

const TOKEN = 'metrics-token-for-tests-0123456789';
const bearer = { authorization: `Bearer ${TOKEN}` };

const NAMES = [
  'echo_http_request_duration_seconds',
  'echo_db_queries_total',
  'echo_db_pool_connections',
  'echo_cache_requests_total',
  'echo_queue_jobs',
  'echo_queue_oldest_waiting_seconds',
  'echo_event_streams_open',
  'echo_analysis_duration_seconds',
  'echo_analysis_failures_total',
  // Node's default process metrics
  'process_resident_memory_bytes',
  'nodejs_eventloop_lag_seconds',
  'nodejs_heap_size_used_bytes',
];

/** The value of the first sample of `name` whose labels include all of `labels`; undefined if none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}

function routeLabels(text: string): string[] {
  return [
    ...new Set(
      [...text.matchAll(/^echo_http_request_duration_seconds_count\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]),
    ),
  ];
}

describe('queue gauges while Redis does not answer', () => {
  it('a scrape still answers (within about a second), without queue samples', async () => {
    for (const read of [
      () => new Promise<never>(() => undefined),
      () => Promise.reject(new Error('Connection is closed.')),
    ]) {
      const detach = addMetricsSource({ queueCounts: read, queueOldestWaiting: read });
      const started = Date.now();
      const text = await registry.metrics();
      detach();
      expect(Date.now() - started).toBeLessThan(2500);
      expect(text).toContain('# TYPE echo_queue_jobs gauge');
      expect(text).not.toMatch(/^echo_queue_jobs\{/m);
      expect(text).toContain('# TYPE echo_queue_oldest_waiting_seconds gauge');
      expect(text).not.toMatch(/^echo_queue_oldest_waiting_seconds\{/m);
    }
  });
});

describe.skipIf(!servicesUp())('metrics, the worker metrics server and the queue dashboard (MariaDB + Redis)', () => {
  let stack: TestStack;
  let api: NestFastifyApplication;
  let workerPort: number;
  let alice: Session;

  const scrape = async (headers: Record<string, string> = bearer) =>
    api.inject({ method: 'GET', url: '/metrics', headers });
  const metricsText = async () => {
    const res = await scrape();
    expect(res.statusCode, res.body).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    workerPort = await freePort();
    stack = await startStack(
      'metrics',
      { METRICS_TOKEN: TOKEN, WORKER_METRICS_PORT: String(workerPort) },
      { worker: true },
    );
    api = stack.api;
    alice = await register(api, 'alice');
  });
  afterAll(() => stack?.close());

  describe('GET /metrics with METRICS_TOKEN set', () => {
    it('needs the bearer token: 401 without it or with a wrong one, 200 Prometheus text with it', async () => {
      const none = await scrape({});
      expect(none.statusCode).toBe(401);
      expect(none.json()).toEqual({ detail: expect.any(String) });
      expect(none.headers['www-authenticate']).toContain('Bearer');
      expect((await scrape({ authorization: 'Bearer wrong-token-0123456789abcdef' })).statusCode).toBe(401);
      expect((await scrape({ authorization: TOKEN })).statusCode).toBe(401);

      const ok = await scrape();
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(ok.body).toContain('# TYPE echo_http_request_duration_seconds histogram');
    });

    it('is outside the /api prefix', async () => {
      expect((await api.inject({ method: 'GET', url: '/api/metrics', headers: bearer })).statusCode).toBe(404);
    });
  });

  describe('GET /metrics without METRICS_TOKEN', () => {
    let open: NestFastifyApplication;
    beforeAll(async () => {
      // A second API process on the same database and Redis, without the token.
      open = await createApiApp(loadConfig({ ...stack.env, METRICS_TOKEN: '' }), { logger: false });
      await open.init();
      await open.getHttpAdapter().getInstance().ready();
    });
    afterAll(() => open?.close());

    it('answers loopback clients only; others (and proxied requests) get 404', async () => {
      const local = await open.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1' });
      expect(local.statusCode).toBe(200);
      expect(local.body).toContain('echo_http_request_duration_seconds');
      expect((await open.inject({ method: 'GET', url: '/metrics', remoteAddress: '::1' })).statusCode).toBe(200);

      const remote = await open.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.1.2.3' });
      expect(remote.statusCode).toBe(404);
      expect(remote.json()).toEqual({ detail: 'Not found.' });
      // A reverse proxy on the same host: its socket is loopback, the client is not.
      const proxied = await open.inject({
        method: 'GET',
        url: '/metrics',
        remoteAddress: '127.0.0.1',
        headers: { 'x-forwarded-for': '203.0.113.9' },
      });
      expect(proxied.statusCode).toBe(404);
    });
  });

  describe('after some traffic', () => {
    let uploadId: string;

    beforeAll(async () => {
      for (let i = 0; i < 2; i++)
        expect((await api.inject({ method: 'GET', url: '/api/users/me', headers: alice.auth })).statusCode).toBe(200);
      const form = multipart([{ name: 'file', filename: 'red.png', data: await solidPng(64, 48, '#ff0000') }]);
      const up = await api.inject({
        method: 'POST',
        url: '/api/uploads',
        headers: { ...alice.auth, ...form.headers },
        payload: form.payload,
      });
      expect(up.statusCode, up.body).toBe(201);
      uploadId = up.json().id;
      const analysisId = up.json().analysis.id;
      await waitFor(
        async () => {
          const a = (
            await api.inject({ method: 'GET', url: `/api/visual-analysis/${analysisId}`, headers: alice.auth })
          ).json();
          return a.status === 'completed';
        },
        30_000,
        'the analysis',
      );
      expect(
        (await api.inject({ method: 'GET', url: `/api/uploads/${uploadId}`, headers: alice.auth })).statusCode,
      ).toBe(200);
      expect((await api.inject({ method: 'GET', url: '/no/such/path/42' })).statusCode).toBe(404);
    });

    it('exposes every metric the benchmark reads, and the default process metrics', async () => {
      const text = await metricsText();
      for (const name of NAMES) expect(text, name).toMatch(new RegExp(`^${name}(_bucket|_count|_sum)?(\\{| )`, 'm'));
      expect(sample(text, 'echo_db_pool_connections', { state: 'open' })).toBeGreaterThan(0);
      expect(sample(text, 'echo_db_pool_connections', { state: 'idle' })).toBeGreaterThanOrEqual(0);
      expect(sample(text, 'echo_db_pool_connections', { state: 'waiting' })).toBe(0);
      expect(sample(text, 'echo_cache_requests_total', { namespace: 'user', result: 'hit' })).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'echo_cache_requests_total', { namespace: 'user', result: 'miss' })).toBeGreaterThanOrEqual(
        1,
      );
      expect(sample(text, 'echo_queue_jobs', { queue: 'visual-analysis', state: 'completed' })).toBeGreaterThanOrEqual(
        1,
      );
      expect(sample(text, 'echo_queue_jobs', { queue: 'maintenance', state: 'waiting' })).toBeGreaterThanOrEqual(0);
      // The worker took the upload's job: nothing of it waits.
      expect(sample(text, 'echo_queue_oldest_waiting_seconds', { queue: 'visual-analysis' })).toBe(0);
      expect(sample(text, 'echo_queue_oldest_waiting_seconds', { queue: 'maintenance' })).toBeGreaterThanOrEqual(0);
      // The worker app runs in this test process, so its analyses show here too.
      expect(sample(text, 'echo_analysis_duration_seconds_count', { outcome: 'completed' })).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'echo_analysis_failures_total')).toBe(0);
      expect(sample(text, 'echo_process_info', { role: 'api', pid: String(process.pid) })).toBe(1);
    });

    it('labels requests with the route pattern, never the raw URL; unknown paths are `unmatched`', async () => {
      const text = await metricsText();
      const routes = routeLabels(text);
      expect(routes).toEqual(
        expect.arrayContaining([
          '/api/uploads/:id',
          '/api/users/me',
          '/api/uploads',
          '/api/auth/register',
          'unmatched',
        ]),
      );
      expect(routes.some((r) => r.includes(uploadId))).toBe(false);
      expect(routes.some((r) => r.includes('/no/such'))).toBe(false);
      expect(
        sample(text, 'echo_http_request_duration_seconds_count', {
          method: 'GET',
          route: '/api/uploads/:id',
          status_code: '200',
        }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        sample(text, 'echo_http_request_duration_seconds_count', {
          method: 'POST',
          route: '/api/uploads',
          status_code: '201',
        }),
      ).toBe(1);
      expect(
        sample(text, 'echo_http_request_duration_seconds_count', {
          method: 'GET',
          route: 'unmatched',
          status_code: '404',
        }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        sample(text, 'echo_http_request_duration_seconds_bucket', { route: '/api/users/me', le: '+Inf' }),
      ).toBeGreaterThanOrEqual(2);
    });

    it('counts the SQL statements the process sends', async () => {
      const before = sample(await metricsText(), 'echo_db_queries_total')!;
      expect(before).toBeGreaterThan(0);
      // A listing page not in the cache reads the database (one statement: rows, statuses and count).
      const url = `/api/uploads?page_size=${7 + Math.floor(Math.random() * 100)}`;
      expect((await api.inject({ method: 'GET', url, headers: alice.auth })).statusCode).toBe(200);
      const after = sample(await metricsText(), 'echo_db_queries_total')!;
      expect(after).toBeGreaterThanOrEqual(before + 1);
    });

    it('the worker serves its own metrics on WORKER_METRICS_PORT, with the same token rule', async () => {
      const url = `http://127.0.0.1:${workerPort}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${workerPort}/other`, { headers: bearer })).status).toBe(404);
      const res = await fetch(url, { headers: bearer });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(sample(text, 'echo_analysis_duration_seconds_count', { outcome: 'completed' })).toBeGreaterThanOrEqual(1);
      expect(text).toMatch(/^echo_analysis_failures_total /m);
      expect(sample(text, 'echo_process_info', { role: 'worker' })).toBe(1);
      expect(sample(text, 'echo_queue_jobs', { queue: 'visual-analysis', state: 'completed' })).toBeGreaterThanOrEqual(
        1,
      );
      expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    });
  });

  describe('analysis duration per format and open event streams', () => {
    it('the PNG analysed above is format="png"; a PNG cut off mid-data fails as png (its sniffed type); no other value', async () => {
      let text = await metricsText();
      expect(sample(text, 'echo_analysis_duration_seconds_count', { outcome: 'completed', format: 'png' })).toBe(1);
      const png = await noisePng(200, 200);
      const form = multipart([{ name: 'file', filename: 'cut.png', data: png.subarray(0, png.length >> 1) }]);
      const up = await api.inject({
        method: 'POST',
        url: '/api/uploads',
        headers: { ...alice.auth, ...form.headers },
        payload: form.payload,
      });
      expect(up.statusCode, up.body).toBe(201);
      const status = await waitFor(
        async () => {
          const a = (
            await api.inject({
              method: 'GET',
              url: `/api/visual-analysis/${up.json().analysis.id}`,
              headers: alice.auth,
            })
          ).json();
          return ['completed', 'failed'].includes(a.status) && (a.status as string);
        },
        30_000,
        'the cut PNG settled',
      );
      expect(status).toBe('failed');
      text = await metricsText();
      expect(sample(text, 'echo_analysis_duration_seconds_count', { outcome: 'failed', format: 'png' })).toBe(1);
      const formats = new Set(
        [...text.matchAll(/^echo_analysis_duration_seconds_count\{[^}]*format="([^"]*)"/gm)].map((m) => m[1]),
      );
      expect([...formats]).toEqual(['png']);
    });

    it('echo_event_streams_open: a refused stream never counts; 2 open, then 1 and 0 as their clients go away', async () => {
      await api.listen(0, '127.0.0.1');
      const url = `${(await api.getUrl()).replace('[::1]', '127.0.0.1')}/api/visual-analysis/events`;
      const open = async () => sample(await metricsText(), 'echo_event_streams_open');
      expect(await open()).toBe(0);
      const refused = await SseReader.open(`${url}?last_event_id=not-an-id`, alice.auth);
      expect(refused.status).toBe(400);
      expect(await open()).toBe(0);
      // The headers come once the stream is subscribed, after it was counted.
      const a = await SseReader.open(url, alice.auth);
      const b = await SseReader.open(url, alice.auth);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(await open()).toBe(2);
      // The client aborts (its socket closes): the server notices when the close arrives.
      a.close();
      await waitFor(async () => (await open()) === 1, 10_000, 'one stream left');
      b.close();
      await waitFor(async () => (await open()) === 0, 10_000, 'no stream left');
    });
  });

  describe('queue dashboard at /admin/queues (bull-board)', () => {
    let admin: Session;
    beforeAll(async () => {
      admin = await registerAdmin(api);
    });

    it('401 without a token, 401 with an invalid one, 403 for a non-admin, 200 HTML for an admin', async () => {
      const none = await api.inject({ method: 'GET', url: '/admin/queues' });
      expect(none.statusCode).toBe(401);
      expect(none.json()).toEqual({ detail: expect.any(String) });
      expect(
        (await api.inject({ method: 'GET', url: '/admin/queues', headers: { authorization: 'Bearer not.a.jwt' } }))
          .statusCode,
      ).toBe(401);

      const user = await api.inject({ method: 'GET', url: '/admin/queues', headers: alice.auth });
      expect(user.statusCode).toBe(403);
      expect(user.json()).toEqual({ detail: expect.any(String) });
      expect(
        (await api.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: alice.auth })).statusCode,
      ).toBe(403);

      const page = await api.inject({ method: 'GET', url: '/admin/queues', headers: admin.auth });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toContain('/admin/queues');
    });

    it("the dashboard's API lists every queue for an admin", async () => {
      const res = await api.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: admin.auth });
      expect(res.statusCode, res.body).toBe(200);
      const names = (res.json().queues as { name: string }[]).map((q) => q.name).sort();
      expect(names).toEqual(['account-purge', 'exports', 'maintenance', 'visual-analysis']);
    });

    it('POST login (form or Bearer) sets an HttpOnly, SameSite=Strict cookie scoped to /admin/queues and redirects; a token in the URL logs nobody in', async () => {
      const form = await api.inject({ method: 'GET', url: '/admin/queues/login' });
      expect(form.statusCode).toBe(200);
      expect(form.body).toContain('method="post"');
      // The old URL login is gone: the token stays out of URLs (proxy logs, history).
      const viaUrl = await api.inject({ method: 'GET', url: `/admin/queues/login?token=${admin.access}` });
      expect(viaUrl.headers['set-cookie']).toBeUndefined();
      expect((await api.inject({ method: 'POST', url: '/admin/queues/login' })).statusCode).toBe(401);
      const refused = await api.inject({ method: 'POST', url: '/admin/queues/login', headers: alice.auth });
      expect(refused.statusCode).toBe(403);
      expect(refused.headers['set-cookie']).toBeUndefined();

      const viaHeader = await api.inject({ method: 'POST', url: '/admin/queues/login', headers: admin.auth });
      expect(viaHeader.statusCode).toBe(303);
      const login = await api.inject({
        method: 'POST',
        url: '/admin/queues/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `token=${encodeURIComponent(admin.access)}`,
      });
      expect(login.statusCode).toBe(303);
      expect(login.headers.location).toBe('/admin/queues');
      // Plain http from a direct client: no Secure flag (it follows the trusted scheme only).
      expect(String(login.headers['set-cookie'])).not.toContain('Secure');
      const cookie = String(login.headers['set-cookie']);
      expect(cookie).toMatch(/^echo_admin=[^;]+;/);
      expect(cookie).toContain('Path=/admin/queues');
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toContain('SameSite=Strict');
      expect(Number(/Max-Age=(\d+)/.exec(cookie)?.[1])).toBeGreaterThan(0);
      const value = cookie.split(';', 1)[0];

      const page = await api.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: `other=1; ${value}` } });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      // The page's own assets load with the cookie (and only with it).
      const src = /<script[^>]+src="([^"]*static\/[^"]+\.js)"/.exec(page.body)?.[1];
      expect(src, page.body.slice(0, 2000)).toBeDefined();
      const asset = new URL(src!, `http://x${/<base href="([^"]+)"/.exec(page.body)?.[1] ?? '/admin/queues/'}`)
        .pathname;
      expect(asset).toMatch(/^\/admin\/queues\/static\//);
      expect((await api.inject({ method: 'GET', url: asset!, headers: { cookie: value } })).statusCode).toBe(200);
      expect((await api.inject({ method: 'GET', url: asset! })).statusCode).toBe(401);
      expect(
        (await api.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie: value } })).statusCode,
      ).toBe(200);
      // A non-admin's token in the cookie is refused the same way.
      expect(
        (await api.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: `echo_admin=${alice.access}` } }))
          .statusCode,
      ).toBe(403);
    });
  });
});

describe.skipIf(!servicesUp())('queue age while no worker takes the jobs (MariaDB + Redis)', () => {
  let stack: TestStack;
  let alice: Session;
  beforeAll(async () => {
    stack = await startStack('metrics_age', { METRICS_TOKEN: TOKEN });
    alice = await register(stack.api, 'alice');
  });
  afterAll(() => stack?.close());

  it('echo_queue_oldest_waiting_seconds: 0, then the waiting upload\u2019s age, growing; 0 again once a worker takes it', async () => {
    const scrape = async () => (await stack.api.inject({ method: 'GET', url: '/metrics', headers: bearer })).body;
    const age = async (queue = 'visual-analysis') =>
      sample(await scrape(), 'echo_queue_oldest_waiting_seconds', { queue });
    expect(await age()).toBe(0);
    // No worker: no schedule was added to the maintenance queue either.
    expect(await age('maintenance')).toBe(0);

    const form = multipart([{ name: 'file', filename: 'w.png', data: await solidPng(40, 30, '#0000ff') }]);
    const up = await stack.api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...alice.auth, ...form.headers },
      payload: form.payload,
    });
    expect(up.statusCode, up.body).toBe(201);
    const first = await waitFor(async () => (await age())! > 0 && (await age())!, 10_000, 'an age above 0');
    await waitFor(async () => (await age())! > first, 10_000, 'the age growing');
    const text = await scrape();
    expect(sample(text, 'echo_queue_jobs', { queue: 'visual-analysis', state: 'waiting' })).toBe(1);

    const worker = await createWorkerApp(stack.config, { logger: false });
    try {
      await waitFor(async () => (await age()) === 0, 30_000, 'the job taken');
      const id = up.json().analysis.id as string;
      await waitFor(
        async () =>
          (await stack.api.inject({ method: 'GET', url: `/api/visual-analysis/${id}`, headers: alice.auth })).json()
            .status === 'completed',
        30_000,
        'the analysis',
      );
    } finally {
      await worker.close();
    }
  });
});

describe('metrics in embedded mode (SQLite, no Redis)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startEmbedded('metrics');
  });
  afterAll(() => stack?.close());

  it('has no pool gauge (no MySQL pool), in-process queue counts, and no queue dashboard', async () => {
    const res = await stack.api.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    // (The registry is per process: the MySQL suite above may have registered the gauge, but it has no samples here.)
    expect(res.body).not.toMatch(/^echo_db_pool_connections\{/m);
    expect(sample(res.body, 'echo_queue_jobs', { queue: 'visual-analysis', state: 'waiting' })).toBe(0);
    // The in-process line's age (nothing waits), and no maintenance queue without Redis.
    expect(sample(res.body, 'echo_queue_oldest_waiting_seconds', { queue: 'visual-analysis' })).toBe(0);
    expect(sample(res.body, 'echo_queue_oldest_waiting_seconds', { queue: 'maintenance' })).toBeUndefined();
    expect(sample(res.body, 'echo_event_streams_open')).toBe(0);
    expect(sample(res.body, 'echo_db_queries_total')).toBeGreaterThan(0);
    // No bull-board: /admin/queues is the console's own page (which says the dashboard needs Redis).
    const page = await stack.api.inject({ method: 'GET', url: '/admin/queues' });
    expect(page.body).not.toContain('Echo queues');
    expect((await stack.api.inject({ method: 'GET', url: '/admin/queues/api/queues' })).body).not.toContain(
      'visual-analysis',
    );
  });
});
