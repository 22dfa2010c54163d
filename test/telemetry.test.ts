import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesUp } from './support/app.js';
import { createTestDatabase, uniquePrefix } from './support/services.js';
import { builtEnv, distBuilt, EchoProcess, freePort, migrateBuilt } from './support/processes.js';
import { multipart, solidJpeg } from './support/images.js';
import { OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';
import { SseReader } from './support/sse.js';
import { PASSWORD } from './support/users.js';
import { waitFor } from './support/wait.js';

/**
 * Tracing (issue 25) on the BUILT API and worker, against MariaDB + Redis, exporting to a real
 * OTLP/HTTP receiver in this test: one upload is one trace from the API through the queue to the
 * worker and back to the event stream; no attribute carries a secret; errors are recorded (and
 * reported to a Sentry stand-in); with the variables unset nothing of OpenTelemetry is loaded.
 */
const built = distBuilt('api') && distBuilt('worker') && distBuilt('cli');
const JWT_SECRET = 'telemetry-test-jwt-secret-0123456789abcdef';
// OTLP SpanKind / StatusCode.
const SERVER = 2;
const PRODUCER = 4;
const CONSUMER = 5;
const ERROR = 2;

type Body = Record<string, any>;

async function call(base: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let body: Body = {};
  try {
    body = text ? (JSON.parse(text) as Body) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

async function upload(base: string, access: string, color: string): Promise<Body> {
  const form = multipart([{ name: 'file', filename: 'p.jpg', data: await solidJpeg(96, 64, color) }]);
  const res = await call(base, '/api/uploads', {
    method: 'POST',
    headers: { authorization: `Bearer ${access}`, ...form.headers },
    body: new Uint8Array(form.payload),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function analysisStatus(base: string, access: string, uploadId: string): Promise<string | undefined> {
  const res = await call(base, `/api/uploads/${uploadId}`, { headers: { authorization: `Bearer ${access}` } });
  return (res.body.analysis as { status?: string } | undefined)?.status;
}

/** Every string a span carries: names, status messages, attribute and event values, resource. */
function strings(spans: ReceivedSpan[]): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  for (const s of spans) walk([s.name, s.status.message, s.attributes, s.events, s.resource]);
  return out;
}

/** Is `ancestor` on the parent chain of `span` (within the trace)? */
function descends(trace: ReceivedSpan[], span: ReceivedSpan, ancestor: ReceivedSpan): boolean {
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  for (let p = span.parentSpanId; p; p = byId.get(p)?.parentSpanId) if (p === ancestor.spanId) return true;
  return false;
}

/** A Sentry stand-in: keeps the events posted to /api/<project>/envelope/. */
class FakeSentry {
  readonly events: Body[] = [];
  private readonly server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      // An envelope: a header line, then item header / item payload lines.
      const lines = body.toString('utf8').split('\n').filter(Boolean);
      for (let i = 1; i + 1 < lines.length; i += 2) {
        const item = JSON.parse(lines[i]) as { type?: string };
        if (item.type === 'event') this.events.push(JSON.parse(lines[i + 1]) as Body);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  static async start(): Promise<FakeSentry> {
    const sentry = new FakeSentry();
    await new Promise<void>((resolve) => sentry.server.listen(0, '127.0.0.1', resolve));
    return sentry;
  }
  get dsn(): string {
    return `http://fakepublickey@127.0.0.1:${(this.server.address() as AddressInfo).port}/42`;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// Loaded with --import: records every module the process loads (ESM through a loader hook, CommonJS
// from require.cache) and writes the list to ECHO_MODULE_PROBE when the process exits.
const MODULE_PROBE = `
import { createRequire, register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
const { port1, port2 } = new MessageChannel();
const loaded = new Set();
port1.on('message', (url) => loaded.add(String(url)));
port1.unref();
const hook = 'let port; export function initialize(data) { port = data.port; } ' +
  'export async function load(url, context, next) { port.postMessage(url); return next(url, context); }';
register('data:text/javascript,' + encodeURIComponent(hook), { data: { port: port2 }, transferList: [port2] });
process.on('exit', () => {
  const cjs = Object.keys(createRequire(import.meta.url).cache);
  writeFileSync(process.env.ECHO_MODULE_PROBE, JSON.stringify([...loaded, ...cjs]));
});
`;
// What tracing or Sentry would load; @opentelemetry/api is allowed: prom-client (the metrics)
// loads it in every process, and Echo's span helpers use it (a no-op without an SDK).
const TELEMETRY_MODULE =
  /node_modules\/(@opentelemetry\/(?!api\/)|@fastify\/otel\/|bullmq-otel\/|@sentry\/|import-in-the-middle\/|require-in-the-middle\/)/;

describe.skipIf(!servicesUp() || !built)('tracing across the built API and worker (OTLP/HTTP)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let receiver: OtlpReceiver;
  let sentry: FakeSentry;
  let prefix: string;
  let work: string;
  const running: EchoProcess[] = [];

  /** API + worker on one port; `extra` adds or (with '') removes variables. */
  async function startPair(extra: Record<string, string>, opts: { worker?: boolean } = {}) {
    const port = await freePort();
    const env = Object.fromEntries(
      Object.entries(
        builtEnv(db.url, prefix, {
          PORT: String(port),
          API_WORKERS: '1',
          JWT_SECRET,
          STORAGE_DIR: join(work, 'storage'),
          ...extra,
        }),
      ).filter(([, v]) => v !== ''),
    );
    const api = EchoProcess.spawn('api', env);
    running.push(api);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => {
        if (api.exited) throw new Error(`the API exited: ${api.output.slice(-2000)}`);
        return (await fetch(`${base}/health`).catch(() => undefined))?.status === 200;
      },
      60_000,
      '/health',
    );
    const worker = opts.worker === false ? undefined : startWorker(env);
    return { api, worker, base, env };
  }
  function startWorker(env: Record<string, string>): EchoProcess {
    const worker = EchoProcess.spawn('worker', env);
    running.push(worker);
    return worker;
  }
  async function stopAll(): Promise<void> {
    await Promise.all(running.splice(0).map((p) => p.kill()));
  }

  async function account(base: string): Promise<{ id: number; username: string; access: string; refresh: string }> {
    const username = `otel_${Math.random().toString(16).slice(2, 10)}`;
    const res = await call(
      base,
      '/api/auth/register',
      json({ username, email: `${username}@example.com`, password: PASSWORD }),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return { id: res.body.user.id, username, access: res.body.access, refresh: res.body.refresh };
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'echo-telemetry-'));
    writeFileSync(join(work, 'probe.mjs'), MODULE_PROBE);
    db = await createTestDatabase('telemetry');
    prefix = uniquePrefix('telemetry');
    receiver = await OtlpReceiver.start();
    sentry = await FakeSentry.start();
    await migrateBuilt(builtEnv(db.url, prefix));
  }, 90_000);

  afterAll(async () => {
    await stopAll();
    await receiver?.close();
    await sentry?.close();
    await db?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('with the variables unset, neither process loads OpenTelemetry, its loaders or Sentry (beyond @opentelemetry/api)', async () => {
    const probe = (name: string) => ({
      NODE_OPTIONS: `--import=${join(work, 'probe.mjs')}`,
      ECHO_MODULE_PROBE: join(work, `${name}-modules.json`),
    });
    const { api, base, env } = await startPair(probe('api'), { worker: false });
    const worker = startWorker({ ...env, ...probe('worker') });
    // A whole user action, so anything loaded on first use would be loaded by now.
    const me = await account(base);
    const up = await upload(base, me.access, '#aa3366');
    await waitFor(async () => (await analysisStatus(base, me.access, up.id)) === 'completed', 60_000, 'analysis');
    expect(await api.kill()).toBe(0);
    expect(await worker.kill()).toBe(0);
    running.splice(0);

    for (const name of ['api', 'worker']) {
      const modules = JSON.parse(readFileSync(join(work, `${name}-modules.json`), 'utf8')) as string[];
      // The probe saw the app's modules (ESM and CommonJS), so an absence means something.
      expect(modules.some((m) => m.includes('/node_modules/@nestjs/core/'))).toBe(true);
      expect(modules.some((m) => m.includes('/node_modules/ioredis/'))).toBe(true);
      expect(modules.filter((m) => TELEMETRY_MODULE.test(m))).toEqual([]);
    }
    expect(receiver.spans).toEqual([]);
  }, 150_000);

  describe('http/json', () => {
    let base: string;
    let api: EchoProcess;
    let me: Awaited<ReturnType<typeof account>>;
    let up: Body;
    let secrets: string[];
    let uploadTrace: ReceivedSpan[];
    let serverSpan: ReceivedSpan;
    let reanalysis: { status: number; body: Body };

    beforeAll(async () => {
      ({ api, base } = await startPair({
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        LOG_LEVEL: 'info',
      }));
      me = await account(base);
      const login = await call(base, '/api/auth/login', json({ username: me.username, password: PASSWORD }));
      expect(login.status).toBe(200);
      const refreshed = await call(base, '/api/auth/refresh', json({ refresh: login.body.refresh }));
      expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
      const ticket = await call(base, '/api/auth/stream-ticket', {
        method: 'POST',
        headers: { authorization: `Bearer ${me.access}` },
      });
      expect(ticket.status).toBe(200);
      const stream = await SseReader.open(`${base}/api/visual-analysis/events?ticket=${ticket.body.ticket}`);
      expect(stream.status).toBe(200);

      up = await upload(base, me.access, '#3366cc');
      await stream.waitFor(
        (r) =>
          r
            .analysis<{ analysis_id: string; status: string }>()
            .some((e) => e.analysis_id === up.analysis.id && e.status === 'completed'),
        60_000,
        'the completed event',
      );
      stream.close();
      // A signed media URL (sig=…) and a request for a thumbnail of nothing: secrets and a 4xx.
      const file = await fetch(new URL(up.file_url, base));
      expect(file.status).toBe(200);
      reanalysis = await call(base, '/api/visual-analysis', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${me.access}` },
        body: JSON.stringify({ upload_id: up.id }),
      });
      expect(reanalysis.status, JSON.stringify(reanalysis.body)).toBe(202);
      expect((await call(base, '/api/nothing-here')).status).toBe(404);
      expect((await call(base, '/api/uploads', { headers: { authorization: 'Bearer not.a.token' } })).status).toBe(401);

      const fileSig = new URL(up.file_url, base).searchParams.get('sig')!;
      secrets = [
        me.access,
        me.refresh,
        login.body.access,
        login.body.refresh,
        refreshed.body.access,
        PASSWORD,
        JWT_SECRET,
        ticket.body.ticket,
        fileSig,
      ];
      for (const s of secrets) expect(s?.length).toBeGreaterThan(8);

      // The upload's trace, once the worker's completion and its delivery on the stream arrived.
      serverSpan = await waitFor(
        async () =>
          receiver.spans.find(
            (s) => s.service === 'echo-api' && s.kind === SERVER && s.attributes['http.route'] === '/api/uploads',
          ),
        20_000,
        'the POST /api/uploads span',
      );
      uploadTrace = await waitFor(
        async () => {
          const trace = receiver.trace(serverSpan.traceId);
          const done = trace.some((s) => s.attributes['echo.analysis.outcome'] === 'completed');
          const sent = trace.filter((s) => s.name === 'event-stream send').length >= 3;
          const paths = receiver.spans.filter((s) => s.kind === SERVER).map((s) => s.attributes['url.path']);
          return done && sent && paths.includes('/api/nothing-here') && trace;
        },
        20_000,
        'the whole trace',
      );
    }, 180_000);

    it('one upload is one trace: HTTP server span → SQL → enqueue → worker job → analysis stages', () => {
      const api = (s: ReceivedSpan) => s.service === 'echo-api';
      const worker = (s: ReceivedSpan) => s.service === 'echo-worker';
      expect(serverSpan).toMatchObject({
        name: 'POST /api/uploads',
        attributes: {
          'http.request.method': 'POST',
          'http.route': '/api/uploads',
          'http.response.status_code': 201,
          'enduser.id': String(me.id),
        },
      });
      expect(serverSpan.parentSpanId).toBeUndefined();
      expect(serverSpan.resource['service.name']).toBe('echo-api');

      const sql = uploadTrace.filter((s) => api(s) && s.attributes['db.system.name'] === 'mysql');
      expect(sql.map((s) => s.attributes['db.query.text'])).toContainEqual(
        expect.stringMatching(/^INSERT INTO `uploads`/),
      );
      for (const s of sql) expect(descends(uploadTrace, s, serverSpan)).toBe(true);

      const enqueue = uploadTrace.find((s) => s.kind === PRODUCER && s.name === 'add visual-analysis.analyze')!;
      expect(enqueue).toBeDefined();
      expect(api(enqueue) && descends(uploadTrace, enqueue, serverSpan)).toBe(true);
      expect(enqueue.attributes).toMatchObject({
        'bullmq.queue.name': 'visual-analysis',
        'bullmq.job.id': up.analysis.id,
      });

      const job = uploadTrace.find((s) => s.kind === CONSUMER && s.name === 'process visual-analysis')!;
      expect(worker(job)).toBe(true);
      expect(job.resource['service.name']).toBe('echo-worker');
      expect(job.parentSpanId).toBe(enqueue.spanId);
      expect(job.attributes).toMatchObject({
        'bullmq.queue.name': 'visual-analysis',
        'bullmq.job.id': up.analysis.id,
        'echo.analysis.id': up.analysis.id,
        'echo.upload.id': up.id,
        'enduser.id': String(me.id),
        'echo.analysis.attempt': 1,
        'echo.analysis.outcome': 'completed',
      });
      // The queue wait: the job starts after the enqueue did.
      expect(job.startNs).toBeGreaterThan(enqueue.startNs);

      const stages = ['analysis.read', 'analysis.decode', 'analysis.store_renditions'].map((name) =>
        uploadTrace.find((s) => s.name === name)!,
      );
      for (const stage of stages) expect(stage && worker(stage) && stage.parentSpanId === job.spanId).toBe(true);
      expect(stages[1].attributes).toMatchObject({ 'echo.image.format': 'jpeg', 'echo.image.width': 96 });
      const workerSql = uploadTrace.filter((s) => worker(s) && s.attributes['db.system.name'] === 'mysql');
      expect(
        workerSql.some((s) => String(s.attributes['db.query.text']).startsWith('UPDATE `visual_analysis_results`')),
      ).toBe(true);
      for (const s of workerSql) expect(descends(uploadTrace, s, job)).toBe(true);
      // ioredis (imported as ESM by Echo and BullMQ) in both processes: the enqueue's script, the job's Redis calls.
      const ioredis = uploadTrace.filter((s) => s.scope === '@opentelemetry/instrumentation-ioredis');
      expect(ioredis.some((s) => api(s) && s.parentSpanId === enqueue.spanId)).toBe(true);
      expect(ioredis.some((s) => worker(s) && descends(uploadTrace, s, job))).toBe(true);
      // node-redis (the cache's client) too.
      expect(uploadTrace.some((s) => s.scope === '@opentelemetry/instrumentation-redis')).toBe(true);
    });

    it('the completion is announced over pub/sub and sent on the event stream in the same trace', () => {
      const job = uploadTrace.find((s) => s.name === 'process visual-analysis')!;
      const sends = uploadTrace.filter((s) => s.name === 'event-stream send');
      // queued (from the API's request), processing and completed (from the worker's job).
      expect(sends.every((s) => s.service === 'echo-api' && s.kind === CONSUMER)).toBe(true);
      expect(sends.some((s) => descends(uploadTrace, s, serverSpan))).toBe(true);
      const fromJob = sends.filter((s) => descends(uploadTrace, s, job));
      expect(fromJob.length).toBeGreaterThanOrEqual(2);
      expect(fromJob[0].attributes).toMatchObject({ 'echo.event.type': 'analysis', 'enduser.id': String(me.id) });
    });

    it('no attribute carries a token, password, ticket, signature or the JWT secret', () => {
      const all = strings(receiver.spans);
      expect(all.length).toBeGreaterThan(200);
      for (const secret of secrets) expect(all.filter((v) => v.includes(secret))).toEqual([]);
      expect(all.filter((v) => /sig=(?!\[redacted\])/.test(v))).toEqual([]);
      expect(all.filter((v) => /ticket=(?!\[redacted\])/.test(v))).toEqual([]);
      expect(all.filter((v) => /bearer/i.test(v))).toEqual([]);
      // The redaction left what an operator needs.
      const media = receiver.spans.find(
        (s) => s.kind === SERVER && s.attributes['http.route'] === '/api/media/uploads/:id/file',
      )!;
      expect(media.attributes['url.query']).toMatch(/^exp=\d+&sig=\[redacted\]$/);
      expect(media.attributes['echo.upload.id']).toBe(up.id);
      // And the raw export bodies, in case a value hides somewhere the parser does not look.
      for (const secret of secrets) expect(receiver.rawBodies.some((b) => b.includes(secret))).toBe(false);
    });

    it('a re-analysis request is one trace too: POST /api/visual-analysis → enqueue → the job', async () => {
      const post = receiver.spans.find(
        (s) => s.kind === SERVER && s.attributes['http.route'] === '/api/visual-analysis',
      )!;
      expect(post.attributes).toMatchObject({ 'http.response.status_code': 202, 'enduser.id': String(me.id) });
      const job = await waitFor(
        async () =>
          receiver
            .trace(post.traceId)
            .find((s) => s.name === 'process visual-analysis' && s.attributes['echo.analysis.outcome'] === 'completed'),
        30_000,
        "the re-analysis' job",
      );
      expect(job.attributes).toMatchObject({ 'echo.analysis.id': reanalysis.body.id, 'echo.upload.id': up.id });
    });

    it('4xx answers are not errors; the request log line carries the trace id', async () => {
      for (const path of ['/api/nothing-here', '/api/uploads']) {
        const span = receiver.spans.find(
          (s) =>
            s.kind === SERVER && s.attributes['url.path'] === path && s.attributes['http.response.status_code'] !== 201,
        )!;
        expect(span, path).toBeDefined();
        expect(span.status.code).not.toBe(ERROR);
        expect(receiver.trace(span.traceId).flatMap((s) => s.events.map((e) => e.name))).not.toContain('exception');
      }
      const line = await waitFor(
        async () =>
          api.output
            .split('\n')
            .filter((l) => l.startsWith('{') && l.includes('"request completed"'))
            .map((l) => JSON.parse(l) as Body)
            .find((l) => l.req.method === 'POST' && l.req.url === '/api/uploads'),
        5_000,
        'the upload request log line',
      );
      expect(line.trace_id).toBe(serverSpan.traceId);
      expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
    });

    afterAll(stopAll);
  });

  describe('http/protobuf, 10 % sampling, Sentry', () => {
    it('decodes as protobuf; samples ~10 % of uploads and their jobs; a failed attempt is an error on its span and a Sentry report in its trace', async () => {
      const before = receiver.spans.length;
      const env = {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_SERVICE_NAME: 'echo-api-eu',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,service.namespace=echo',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.1',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        SENTRY_DSN: sentry.dsn,
      };
      // API only: the jobs wait, and one loses its original before the worker starts.
      const { base, env: apiEnv } = await startPair(env, { worker: false });
      const me = await account(base);
      for (let i = 0; i < 20; i++) await upload(base, me.access, `#${(0x102030 + i * 0x050403).toString(16)}`);
      // A caller that is itself traced (W3C traceparent, sampled): parent-based sampling follows it.
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const form = multipart([{ name: 'file', filename: 'p.jpg', data: await solidJpeg(96, 64, '#0f0f0f') }]);
      const sent = await call(base, '/api/uploads', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${me.access}`,
          traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
          ...form.headers,
        },
        body: new Uint8Array(form.payload),
      });
      expect(sent.status).toBe(201);
      const broken = sent.body;
      rmSync(join(work, 'storage', String(me.id), broken.id));
      const worker = startWorker({ ...apiEnv, OTEL_SERVICE_NAME: '' });

      const report = await waitFor(
        async () => sentry.events.find((e) => JSON.stringify(e.exception ?? {}).includes('StorageNotFoundError')),
        60_000,
        'the Sentry report',
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}; Sentry got ${JSON.stringify(sentry.events)}; worker: ${worker.output.slice(-3000)}`,
        );
      });
      expect(report.tags).toMatchObject({ service: 'echo-worker' });
      expect((report.contexts?.trace as { trace_id?: string } | undefined)?.trace_id).toBe(traceId);
      const failed = await waitFor(
        async () => receiver.trace(traceId).find((s) => s.name === 'process visual-analysis'),
        20_000,
        "the broken upload's job span",
      );
      expect(failed.service).toBe('echo-worker');
      expect(failed.status.code).toBe(ERROR);
      expect(failed.events.map((e) => e.name)).toContain('exception');
      expect(failed.attributes).toMatchObject({ 'echo.upload.id': broken.id, 'echo.analysis.outcome': 'retry' });
      const post = receiver.trace(traceId).find((s) => s.kind === SERVER)!;
      expect(post.parentSpanId).toBe('00f067aa0ba902b7');
      expect(post.service).toBe('echo-api-eu');
      expect(post.resource).toMatchObject({ 'deployment.environment.name': 'test', 'service.namespace': 'echo' });
      expect([...receiver.contentTypes]).toContain('application/x-protobuf');

      // The other 20: about 10 % sampled at the request, and only their jobs traced in the worker.
      const ours = () => receiver.spans.slice(before).filter((s) => s.traceId !== traceId);
      await waitFor(async () => (await analysisStatus(base, me.access, broken.id)) !== 'queued', 30_000, 'the worker');
      await new Promise((r) => setTimeout(r, 3000));
      const sampledPosts = ours().filter((s) => s.kind === SERVER && s.attributes['http.route'] === '/api/uploads');
      expect(sampledPosts.length).toBeLessThan(8);
      const jobs = ours().filter((s) => s.name === 'process visual-analysis');
      for (const job of jobs) expect(sampledPosts.map((p) => p.traceId)).toContain(job.traceId);
      await stopAll();
    }, 180_000);
  });
});

describe.skipIf(!built)('a bad tracing or Sentry variable stops the entry points', () => {
  it.each(['api', 'worker'])('the %s exits 1 naming each bad variable (never the DSN itself)', (app) => {
    const result = spawnSync(process.execPath, [`dist/apps/${app}/src/main.js`], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml',
        SENTRY_DSN: 'not-a-dsn',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    for (const name of ['OTEL_TRACES_SAMPLER', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'SENTRY_DSN'])
      expect(result.stderr).toContain(`${name}: `);
    expect(result.stderr).not.toContain('not-a-dsn');
  });
});
