#!/usr/bin/env node
// The overload drill: what the API does when its database falls far behind the offered load.
// Starts the built API (API_WORKERS=2, DB_POOL_SIZE=10, CACHE_ENABLED=false: every request needs
// the database) against echo_bench through a delay proxy, and keeps 1000 connections on the own
// uploads page through three phases: normal, slowed (the proxy holds every chunk --delay ms each
// way), recovered (delay back to 0). Per phase: req/s, status counts, errors and timeouts,
// latency, peak and final RSS of each API process, time to the first 503; after the slowdown, how
// long until req/s is back to ≥ 80 % of normal with no 5xx. Results: bench/results/overload-latest.{md,json}.
//
//   npm run bench:overload -- [--delay 300] [--env DB_POOL_QUEUE_LIMIT=50 …] [--label after]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { parseDatabaseUrl } from './lib/db.js';
import { helpAndExit, positiveInt } from './lib/cli.js';
import { startDelayProxy } from './lib/delay-proxy.js';
import { childPids, onceCleanup, rssMb, stopAll } from './lib/processes.js';
import { environment, fmt, table, timestamp, writeResults } from './lib/report.js';
import { scrape, sumMetric } from './lib/metrics.js';
import { loginAll, pickUsers } from './lib/seed-data.js';
import { assertBuilt, cleanRedis, stackSettings, startApi } from './lib/stack.js';

const HELP = `Overload drill: the API against a database slowed by a delay proxy, 1000 connections.
Needs a build and the seeded echo_bench (npm run bench seeds it).

  --connections N     autocannon connections (default 1000)
  --normal S          seconds of normal load (default 10)
  --slowed S          seconds with the database slowed (default 20)
  --recovered S       seconds after the delay is removed (default 15)
  --warmup S          unmeasured load before the normal phase (default 15: a cold start waits long)
  --delay MS          ms the proxy adds to every chunk, each way, in the slowed phase (default 300)
  --timeout S         autocannon request timeout (default 10)
  --tokens N          seeded users logged in and rotated through (default 100)
  --page-size N       page_size of the own-uploads page (default 20; pages rotate through each user's)
  --env K=V           extra API environment (repeatable), e.g. --env DB_POOL_QUEUE_LIMIT=50
  --label L           results also go to bench/results/overload-<L>.{md,json}
  --password P        the seeded users' password (default echo-bench-pass-1)
  --keep-logs         keep the temp dir (API logs)

Env: BENCH_DATABASE_URL (default mysql://root@127.0.0.1:3306/echo_bench), BENCH_REDIS_URL.`;

const { values: flags } = parseArgs({
  options: {
    connections: { type: 'string', default: '1000' },
    normal: { type: 'string', default: '10' },
    slowed: { type: 'string', default: '20' },
    recovered: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '15' },
    delay: { type: 'string', default: '300' },
    timeout: { type: 'string', default: '10' },
    tokens: { type: 'string', default: '100' },
    'page-size': { type: 'string', default: '20' },
    env: { type: 'string', multiple: true, default: [] },
    label: { type: 'string' },
    password: { type: 'string', default: 'echo-bench-pass-1' },
    'keep-logs': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
helpAndExit(flags, HELP);

const settings = {
  connections: positiveInt(flags.connections, 'connections'),
  phases: [
    { name: 'normal', seconds: positiveInt(flags.normal, 'normal'), delay: 0 },
    { name: 'slowed', seconds: positiveInt(flags.slowed, 'slowed'), delay: positiveInt(flags.delay, 'delay') },
    { name: 'recovered', seconds: positiveInt(flags.recovered, 'recovered'), delay: 0 },
  ],
  warmup: Number(flags.warmup) || 0,
  timeout: positiveInt(flags.timeout, 'timeout'),
  tokens: positiveInt(flags.tokens, 'tokens'),
  pageSize: positiveInt(flags['page-size'], 'page-size'),
  apiEnv: {
    API_WORKERS: '2',
    DB_POOL_SIZE: '10',
    CACHE_ENABLED: 'false',
    ...Object.fromEntries(
      flags.env.map((kv) => {
        const at = kv.indexOf('=');
        if (at < 1) throw new Error(`--env wants KEY=VALUE (got ${kv})`);
        return [kv.slice(0, at), kv.slice(at + 1)];
      }),
    ),
  },
};

const db = parseDatabaseUrl(process.env.BENCH_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/echo_bench');
const state = { tempDir: null, stack: null, api: null, proxy: null, failed: false };
const cleanup = onceCleanup(state, flags['keep-logs'], async () => {
  await state.api?.stop().catch(() => undefined);
  await state.proxy?.stop().catch(() => undefined);
  await stopAll();
  if (state.stack) await cleanRedis(state.stack);
});

const percentile = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : null;

/** Per-phase and per-second tallies of what autocannon saw. */
function newTally() {
  return {
    responses: 0,
    s200: 0,
    s503: 0,
    other5xx: 0,
    other: 0,
    errors: 0,
    timeouts: 0,
    latencies: [],
    latencies503: [],
  };
}

function count(tally, status, ms) {
  tally.responses++;
  if (status === 200) tally.s200++;
  else if (status === 503) tally.s503++;
  else if (status >= 500) tally.other5xx++;
  else tally.other++;
  tally.latencies.push(ms);
  if (status === 503) tally.latencies503.push(ms);
}

/** One 503's headers and body, as clients see it (autocannon reports no headers). */
async function probe503(url, headers, until) {
  while (Date.now() < until) {
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
      const body = await res.text();
      if (res.status === 503)
        return { status: 503, retryAfter: res.headers.get('retry-after'), body: body.slice(0, 200) };
    } catch {
      // timed out: try again
    }
    await sleep(500);
  }
  return null;
}

async function main() {
  assertBuilt();
  state.tempDir = mkdtempSync(join(tmpdir(), 'echo-overload-'));
  const target = new URL(db.url);
  state.proxy = await startDelayProxy({ host: target.hostname, port: Number(target.port || 3306) });
  const proxied = new URL(db.url);
  proxied.port = String(state.proxy.port);
  state.stack = stackSettings({ databaseUrl: proxied.toString(), tempDir: state.tempDir, label: 'overload' });
  console.log(
    `Overload drill → ${db.name} through a delay proxy (:${state.proxy.port}); API env ${JSON.stringify(settings.apiEnv)}`,
  );

  state.api = await startApi(state.stack, settings.apiEnv);
  const workers = childPids(state.api.proc.pid);
  const pids = workers.length ? workers : [state.api.proc.pid];
  await sleep(2000);
  const idleRss = pids.map((pid) => rssMb(pid));
  console.log(
    `API ${state.api.baseUrl}: processes ${pids.join(', ')}, idle RSS ${idleRss.map((v) => `${fmt(v)} MB`).join(', ')}`,
  );

  const picked = await pickUsers(db.url, { count: settings.tokens, heavyCount: 1 });
  const users = await loginAll(state.api.baseUrl, picked.users, flags.password);
  const requests = users.flatMap((u) => {
    const pages = Math.max(1, Math.ceil(u.uploads / settings.pageSize));
    return Array.from({ length: Math.min(pages, 5) }, (_, i) => ({
      path: `/api/uploads?page=${i + 1}&page_size=${settings.pageSize}`,
      headers: { authorization: `Bearer ${u.token}` },
    }));
  });
  const check = await fetch(`${state.api.baseUrl}${requests[0].path}`, { headers: requests[0].headers });
  if (check.status !== 200)
    throw new Error(`${requests[0].path}: HTTP ${check.status} ${(await check.text()).slice(0, 200)}`);
  console.log(`Logged in ${users.length} users; ${requests.length} distinct page requests rotated`);

  // RSS of each API process every 250 ms.
  const rssSamples = [];
  const sampler = setInterval(() => rssSamples.push({ t: Date.now(), rss: pids.map((pid) => rssMb(pid)) }), 250);
  // V8 heap used, all API processes together (the cluster primary's sum), about once a second.
  const heapSamples = [];
  let heapStop = false;
  const heapLoop = (async () => {
    while (!heapStop) {
      const t = Date.now();
      const samples = await scrape(state.api.clusterMetricsUrl, state.stack.metricsToken);
      const used = sumMetric(samples, 'nodejs_heap_size_used_bytes');
      if (used !== null) heapSamples.push({ t, mb: used / 2 ** 20 });
      await sleep(Math.max(0, 1000 - (Date.now() - t)));
    }
  })();

  let next = 0;
  const run = (seconds) =>
    autocannon({
      url: state.api.baseUrl,
      connections: settings.connections,
      duration: seconds,
      timeout: settings.timeout,
      requests: [
        {
          method: 'GET',
          path: '/',
          setupRequest: (req) => {
            const r = requests[next++ % requests.length];
            return { ...req, path: r.path, headers: { ...req.headers, ...r.headers } };
          },
        },
      ],
    });

  // One autocannon run through every phase (the same 1000 connections throughout); the warm-up is
  // its unmeasured start.
  const all = [
    ...(settings.warmup > 0 ? [{ name: 'warm-up', seconds: settings.warmup, delay: 0 }] : []),
    ...settings.phases,
  ];
  const total = all.reduce((s, p) => s + p.seconds, 0);
  const phases = all.map((p) => ({ ...p, tally: newTally(), first503Ms: null }));
  const seconds = Array.from({ length: total + settings.timeout + 5 }, () => newTally());
  const started = Date.now();
  let offset = 0;
  for (const p of phases) {
    p.startMs = offset * 1000;
    offset += p.seconds;
    p.endMs = offset * 1000;
  }
  const phaseAt = (ms) => phases.find((p) => ms < p.endMs) ?? phases.at(-1);

  const instance = run(total);
  instance.on('response', (_client, status, _bytes, ms) => {
    const at = Date.now() - started;
    const p = phaseAt(at);
    count(p.tally, status, ms);
    const sec = seconds[Math.floor(at / 1000)];
    if (sec) count(sec, status, ms);
    if (status === 503 && p.first503Ms === null) p.first503Ms = at - p.startMs;
  });
  instance.on('reqError', (err) => {
    const at = Date.now() - started;
    const p = phaseAt(at);
    const timeout = /timed out/.test(err?.message ?? '');
    p.tally.errors++;
    if (timeout) p.tally.timeouts++;
    const sec = seconds[Math.floor(at / 1000)];
    if (sec) {
      sec.errors++;
      if (timeout) sec.timeouts++;
    }
  });
  const done = new Promise((resolve, reject) => {
    instance.once('done', resolve);
    instance.once('error', reject);
  });

  let sample503 = null;
  for (const p of phases) {
    const wait = started + p.startMs - Date.now();
    if (wait > 0) await sleep(wait);
    await state.proxy.setDelay(p.delay);
    console.log(`${((Date.now() - started) / 1000).toFixed(1)} s: ${p.name} (delay ${p.delay} ms) for ${p.seconds} s`);
    if (p.delay > 0)
      probe503(`${state.api.baseUrl}${requests[0].path}`, requests[0].headers, started + p.endMs).then((r) => {
        sample503 = r;
      });
  }
  const result = await done;
  clearInterval(sampler);
  heapStop = true;
  await heapLoop;
  // After the load: sequential requests must be 200 again.
  const after = [];
  for (let i = 0; i < 10; i++) {
    const r = requests[i % requests.length];
    const res = await fetch(`${state.api.baseUrl}${r.path}`, { headers: r.headers }).catch(() => null);
    after.push(res?.status ?? 'error');
  }
  const idleAfter = pids.map((pid) => rssMb(pid));

  // Per phase: RSS peak/final per process, rates, latencies.
  const measured = phases.filter((p) => p.name !== 'warm-up');
  const normalRps = measured[0].tally.responses / measured[0].seconds;
  const rows = measured.map((p) => {
    const inPhase = rssSamples.filter((s) => s.t - started >= p.startMs && s.t - started < p.endMs);
    const peak = pids.map((_, i) => Math.max(...inPhase.map((s) => s.rss[i] ?? 0)));
    const final = pids.map((_, i) => inPhase.at(-1)?.rss[i] ?? null);
    const lat = [...p.tally.latencies].sort((a, b) => a - b);
    const lat503 = [...p.tally.latencies503].sort((a, b) => a - b);
    const heapIn = heapSamples.filter((h) => h.t - started >= p.startMs && h.t - started < p.endMs);
    return {
      phase: p.name,
      seconds: p.seconds,
      delayMs: p.delay,
      rps: p.tally.responses / p.seconds,
      ok200: p.tally.s200,
      s503: p.tally.s503,
      other5xx: p.tally.other5xx,
      other: p.tally.other,
      errors: p.tally.errors,
      timeouts: p.tally.timeouts,
      p50: percentile(lat, 0.5),
      p99: percentile(lat, 0.99),
      p99of503: percentile(lat503, 0.99),
      first503Ms: p.first503Ms,
      peakRssMb: peak,
      peakHeapUsedMbAll: heapIn.length ? Math.max(...heapIn.map((h) => h.mb)) : null,
      finalRssMb: final,
    };
  });

  // Recovery: from the start of the recovered phase to the first second from which on there are
  // no 5xx and no timeouts, and req/s averages ≥ 80 % of normal (single seconds are noisy).
  const rec = measured[2];
  const recSeconds = seconds.slice(rec.startMs / 1000, rec.endMs / 1000);
  const clean = (s) => s.s503 + s.other5xx === 0 && s.timeouts === 0;
  let recoveredAfterS = null;
  for (let i = recSeconds.length - 1; i >= 0 && clean(recSeconds[i]); i--) {
    const rest = recSeconds.slice(i);
    if (rest.reduce((n, s) => n + s.responses, 0) / rest.length >= 0.8 * normalRps) recoveredAfterS = i;
  }
  const timeline = seconds.slice(0, total).map((s, i) => ({
    second: i,
    phase: phaseAt(i * 1000).name,
    rps: s.responses,
    ok200: s.s200,
    s503: s.s503,
    other5xx: s.other5xx,
    errors: s.errors,
    timeouts: s.timeouts,
    rssMb: rssSamples
      .filter((r) => Math.floor((r.t - started) / 1000) === i)
      .reduce((m, r) => r.rss.map((v, k) => Math.max(v ?? 0, m[k] ?? 0)), []),
  }));

  const env = environment();
  const meta = {
    at: new Date().toISOString(),
    label: flags.label ?? null,
    env,
    database: db.name,
    apiEnv: settings.apiEnv,
    connections: settings.connections,
    timeoutS: settings.timeout,
    delayMs: settings.phases[1].delay,
    tokens: users.length,
    pageSize: settings.pageSize,
    idleRssMb: idleRss,
    rssAfterMb: idleAfter,
    sample503,
    afterStatuses: after,
    normalRps,
    recoveredAfterS,
    autocannonTotals: { requests: result.requests?.total, errors: result.errors, timeouts: result.timeouts },
  };
  const mb = (list) => list.map((v) => fmt(v)).join(' / ');
  const columns = [
    {
      title: 'phase',
      value: (r) => `${r.phase} (${r.seconds} s${r.delayMs ? `, +${r.delayMs} ms` : ''})`,
      align: 'left',
    },
    { title: 'req/s', value: (r) => fmt(r.rps) },
    { title: '200', value: (r) => fmt(r.ok200) },
    { title: '503', value: (r) => fmt(r.s503) },
    { title: 'other 5xx', value: (r) => fmt(r.other5xx) },
    { title: 'other', value: (r) => fmt(r.other) },
    { title: 'errors (timeouts)', value: (r) => `${fmt(r.errors)} (${fmt(r.timeouts)})` },
    { title: 'p50 ms', value: (r) => fmt(r.p50) },
    { title: 'p99 ms', value: (r) => fmt(r.p99) },
    { title: 'p99 of 503s ms', value: (r) => fmt(r.p99of503) },
    { title: 'first 503 after', value: (r) => (r.first503Ms === null ? '—' : `${fmt(r.first503Ms / 1000, 1)} s`) },
    { title: 'peak RSS MB', value: (r) => mb(r.peakRssMb) },
    { title: 'final RSS MB', value: (r) => mb(r.finalRssMb) },
    { title: 'peak heap used MB (all)', value: (r) => fmt(r.peakHeapUsedMbAll) },
  ];
  const summary = [
    `recovered (from then on: no 5xx, no timeouts, req/s ≥ 80 % of normal on average) after: ${recoveredAfterS === null ? 'not within the phase' : `${recoveredAfterS} s`}`,
    `a 503 as clients see it: ${sample503 ? `Retry-After ${sample503.retryAfter ?? 'missing'}, body ${sample503.body}` : 'none seen by the probe'}`,
    `after the load, 10 sequential requests: ${after.join(' ')}`,
    `RSS per API process: idle ${mb(idleRss)} MB before, ${mb(idleAfter)} MB after`,
  ];
  const md = [
    `# Overload drill${flags.label ? ` (${flags.label})` : ''}`,
    '',
    `- ${meta.at}, commit ${env.commit}${env.dirty ? ' (dirty)' : ''}, Node ${env.node}, ${env.cpus} × ${env.cpuModel}, ${env.memoryGb} GB; autocannon on the same machine`,
    `- \`GET /api/uploads?page=N&page_size=${settings.pageSize}\`, ${users.length} users' tokens rotated, ${settings.connections} connections, request timeout ${settings.timeout} s, ${settings.warmup} s warm-up`,
    `- API env: ${Object.entries(settings.apiEnv)
      .map(([k, v]) => `\`${k}=${v}\``)
      .join(
        ', ',
      )}; database ${db.name} through a delay proxy (+${settings.phases[1].delay} ms per chunk each way while slowed)`,
    '',
    table(rows, columns, { markdown: true }),
    '',
    ...summary.map((s) => `- ${s}`),
    '',
    '## Per second',
    '',
    table(
      timeline,
      [
        { title: 's', value: (r) => String(r.second) },
        { title: 'phase', value: (r) => r.phase, align: 'left' },
        { title: 'responses', value: (r) => fmt(r.rps) },
        { title: '200', value: (r) => fmt(r.ok200) },
        { title: '503', value: (r) => fmt(r.s503) },
        { title: 'other 5xx', value: (r) => fmt(r.other5xx) },
        { title: 'errors (timeouts)', value: (r) => `${fmt(r.errors)} (${fmt(r.timeouts)})` },
        { title: 'RSS MB', value: (r) => mb(r.rssMb) },
      ],
      { markdown: true },
    ),
  ].join('\n');
  console.log(`\n${table(rows, columns)}\n`);
  for (const s of summary) console.log(s);
  const json = { meta, phases: rows, timeline };
  const stamp = `overload-${timestamp()}`;
  writeResults(stamp, md, json, 'overload-latest.md');
  if (flags.label) writeResults(`overload-${flags.label}`, md, json);
  console.log(
    `\nWritten bench/results/overload-latest.{md,json}${flags.label ? ` and overload-${flags.label}.*` : ''}`,
  );
}

main()
  .catch((err) => {
    state.failed = true;
    process.exitCode = 1;
    console.error(`\noverload drill failed: ${err.stack ?? err.message}`);
  })
  .finally(() => cleanup());
