#!/usr/bin/env node
// What tracing costs (issue 25): the built API (one process) and worker on the seeded bench
// database, with tracing off, on at 100 % and on at 10 % (parent-based ratio), exporting OTLP
// http/protobuf to a local sink that discards. Per variant: the cached page (GET /api/uploads,
// 20 seeded users' tokens in turn) and the upload path (POST /api/uploads of unique small PNGs,
// analysed by the worker meanwhile). Reports req/s, latency and CPU per request of the API (and
// of the worker, per upload), read from /proc. Rounds rotate the variants' order: compare the
// rounds to see the noise.
//
//   npm run build && node bench/tracing-cost.js [--rounds 2] [--duration 10] [--connections 20]
//
// Env: BENCH_DATABASE_URL (default mysql://root@127.0.0.1:3306/echo_bench, seeded by bench/run.js).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { harnessUploadName, parseDatabaseUrl, removeHarnessUploads } from './lib/db.js';
import { multipartBody, uniquePngs } from './lib/images.js';
import { stopAll } from './lib/processes.js';
import { loginAll, pickUsers } from './lib/seed-data.js';
import { assertBuilt, cleanRedis, runMigrations, stackSettings, startApi, startWorker } from './lib/stack.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '20' },
    'upload-connections': { type: 'string', default: '4' },
    password: { type: 'string', default: 'echo-bench-pass-1' },
  },
});
const rounds = Number(flags.rounds);
const duration = Number(flags.duration);
const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/echo_bench';
const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString());
const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) / ticks) * 1000;
};

assertBuilt();
// The OTLP endpoint: reads and drops what the exporters send (counting it).
const sink = { requests: 0, bytes: 0 };
const sinkServer = createServer((req, res) => {
  req.on('data', (c) => (sink.bytes += c.length));
  req.on('end', () => {
    sink.requests++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
await new Promise((resolve) => sinkServer.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${sinkServer.address().port}`;

const VARIANTS = {
  off: {},
  'on 100 %': { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: 'parentbased_always_on' },
  'on 10 %': {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.1',
  },
};

const tempDir = mkdtempSync(join(tmpdir(), 'echo-tracing-cost-'));
const settings = stackSettings({ databaseUrl, tempDir, label: 'tracecost' });
await runMigrations(settings);
const { users } = await pickUsers(databaseUrl, { count: 20, heavyCount: 1 });
const pngs = await uniquePngs(4000, 48);
let uploadCount = 0;

function run(baseUrl, connections, next) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: baseUrl,
        connections,
        duration,
        requests: [{ method: 'GET', path: '/', setupRequest: (req) => ({ ...req, ...next() }) }],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

async function measure(name, env) {
  const api = await startApi(settings, { API_WORKERS: 1, ...env }, `api-${name.replace(/\W+/g, '')}`);
  let worker;
  try {
    const tokens = (await loginAll(api.baseUrl, users, flags.password)).map((u) => u.token);
    let k = 0;
    const page = () => ({
      method: 'GET',
      path: '/api/uploads?page=1',
      headers: { authorization: `Bearer ${tokens[k++ % tokens.length]}` },
    });
    const upload = () => {
      const n = uploadCount++;
      const { body, contentType } = multipartBody(pngs[n % pngs.length], { filename: harnessUploadName(n) });
      return {
        method: 'POST',
        path: '/api/uploads',
        body,
        headers: { authorization: `Bearer ${tokens[n % tokens.length]}`, 'content-type': contentType },
      };
    };
    const apiPid = api.proc.pid;
    await new Promise((resolve) =>
      autocannon(
        { url: api.baseUrl, connections: 10, duration: 5, requests: [{ setupRequest: (r) => ({ ...r, ...page() }) }] },
        resolve,
      ),
    );
    const out = {};
    for (const [scenario, next, connections] of [
      ['cached page', page, Number(flags.connections)],
      ['upload', upload, Number(flags['upload-connections'])],
    ]) {
      // The worker only for the uploads: its start-up work (backfill, audit) stays out of the page's figures.
      if (scenario === 'upload') worker = await startWorker(settings, env, `worker-${name.replace(/\W+/g, '')}`);
      const workerCpu = () => (worker ? cpuMs(worker.proc.pid) : 0);
      const [a0, w0, s0] = [cpuMs(apiPid), workerCpu(), sink.bytes];
      const r = await run(api.baseUrl, connections, next);
      const [a1, w1] = [cpuMs(apiPid), workerCpu()];
      const n = r.requests.total || 1;
      out[scenario] = {
        rps: r.requests.average,
        p50: r.latency.p50,
        p99: r.latency.p99,
        non2xx: r.non2xx + r.errors,
        apiCpuMsPerReq: (a1 - a0) / n,
        workerCpuMsPerReq: (w1 - w0) / n,
        exportedKbPerReq: (sink.bytes - s0) / 1024 / n,
      };
      console.error(`${name} / ${scenario}: ${JSON.stringify(out[scenario])}`);
    }
    return out;
  } finally {
    await Promise.all([api.stop(), worker?.stop()]);
  }
}

const results = [];
try {
  const names = Object.keys(VARIANTS);
  for (let round = 0; round < rounds; round++) {
    // Rotate the order: a variant is not always measured first (cold) or last (warm machine).
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order)
      results.push({ round: round + 1, variant: name, ...(await measure(name, VARIANTS[name])) });
  }
} finally {
  await stopAll();
  await cleanRedis(settings);
  // The uploads this run made (and, by cascade, their analyses); their files go with tempDir.
  await removeHarnessUploads(parseDatabaseUrl(databaseUrl)).catch(() => undefined);
  sinkServer.close();
  rmSync(tempDir, { recursive: true, force: true });
}

const f = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
console.log(
  '| round | tracing | scenario | req/s | p50 ms | p99 ms | API CPU ms/req | worker CPU ms/req | OTLP KiB/req | errors |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  for (const scenario of ['cached page', 'upload']) {
    const m = r[scenario];
    console.log(
      `| ${r.round} | ${r.variant} | ${scenario} | ${f(m.rps, 0)} | ${f(m.p50)} | ${f(m.p99)} | ${f(m.apiCpuMsPerReq, 2)} | ${f(m.workerCpuMsPerReq, 2)} | ${f(m.exportedKbPerReq, 2)} | ${m.non2xx} |`,
    );
  }
}
