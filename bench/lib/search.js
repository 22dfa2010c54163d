// The search bench (issue 22 §4): on the seed's two big libraries (`seed --big-users 2000,20000`),
// the first page of GET /api/uploads with each filter and ordering, uncached, next to the
// unfiltered first page; then similar photos and duplicate groups of the bigger library.
// "Uncached" = a fresh API with CACHE_ENABLED=false, as the cold-page3 phase: neither the page-body
// cache nor the list-count cache answers (each request runs the page and its COUNT), and nothing
// is shared between concurrent identical requests (the cache's single flight is off with it).
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from './db.js';
import { fmt } from './report.js';

/** The seed's big libraries, by default (run.js --big-users). */
export const DEFAULT_BIG_USERS = [2000, 20000];

/**
 * For each size, the active non-admin user whose upload count is closest to it (the seed gives
 * big users exactly that many), each user once; null entries when there are none.
 */
export async function pickSearchUsers(databaseUrl, sizes) {
  const conn = await connect(databaseUrl);
  try {
    const [rows] = await conn.query(
      `SELECT u.id, u.username, c.n AS uploads
         FROM users u JOIN (SELECT user_id, COUNT(*) AS n FROM uploads GROUP BY user_id) c ON c.user_id = u.id
        WHERE u.is_active = 1 AND u.role = 'user'`,
    );
    const taken = new Set();
    return sizes.map((size) => {
      let best = null;
      for (const r of rows) {
        const n = Number(r.uploads);
        if (taken.has(r.id) || (best && Math.abs(n - size) >= Math.abs(best.uploads - size))) continue;
        best = { id: Number(r.id), username: r.username, uploads: n };
      }
      if (best) taken.add(best.id);
      return best;
    });
  } finally {
    await conn.end();
  }
}

/** Are the seed's big users there (an exact count for each size)? */
export async function hasBigUsers(databaseUrl, sizes) {
  if (!sizes.length) return true;
  const users = await pickSearchUsers(databaseUrl, sizes);
  return users.every((u, i) => u && u.uploads === sizes[i]);
}

/**
 * Values the filters use, read from the bigger library so each matches a realistic share: the
 * summer (June–August) with the most photos taken, its most common camera make and model, and
 * uploads that have a near-duplicate (for `similar`).
 */
export async function searchValues(databaseUrl, user, { maxDistance = 10, similarTargets = 20 } = {}) {
  const conn = await connect(databaseUrl);
  try {
    const [[summer]] = await conn.query(
      `SELECT YEAR(taken_at) AS year, COUNT(*) AS n FROM uploads
        WHERE user_id = ? AND MONTH(taken_at) IN (6, 7, 8) GROUP BY year ORDER BY n DESC LIMIT 1`,
      [user.id],
    );
    const top = async (column) => {
      const [[row]] = await conn.query(
        `SELECT ${column} AS value FROM uploads WHERE user_id = ? AND ${column} IS NOT NULL
          GROUP BY ${column} ORDER BY COUNT(*) DESC, ${column} LIMIT 1`,
        [user.id],
      );
      return row?.value ?? null;
    };
    // Uploads with a near-duplicate: MariaDB's BIT_COUNT over the two hashes as 64-bit integers.
    const [clustered] = await conn.query(
      `SELECT DISTINCT a.id FROM uploads a
         JOIN uploads b ON b.user_id = a.user_id AND b.id <> a.id AND b.phash IS NOT NULL
        WHERE a.user_id = ? AND a.phash IS NOT NULL
          AND BIT_COUNT(CAST(CONV(a.phash, 16, 10) AS UNSIGNED) ^ CAST(CONV(b.phash, 16, 10) AS UNSIGNED)) <= ?
        LIMIT ?`,
      [user.id, maxDistance, similarTargets],
    );
    return {
      summerYear: summer ? Number(summer.year) : new Date().getUTCFullYear() - 1,
      cameraMake: await top('camera_make'),
      cameraModel: await top('camera_model'),
      similarIds: clustered.map((r) => r.id),
    };
  } finally {
    await conn.end();
  }
}

/** The list scenarios: the unfiltered first page, then one filter (or ordering) each. */
export function searchFilters(values, pageSize) {
  const y = values.summerYear;
  const filters = [
    ['unfiltered', ''],
    [`taken in summer ${y}`, `taken_after=${y}-06-01T00:00:00Z&taken_before=${y}-09-01T00:00:00Z`],
    ['camera_make', values.cameraMake ? `camera_make=${encodeURIComponent(values.cameraMake)}` : null],
    ['camera_model', values.cameraModel ? `camera_model=${encodeURIComponent(values.cameraModel)}` : null],
    ['has_gps', 'has_gps=true'],
    ['orientation', 'orientation=portrait'],
    ['min_width', 'min_width=3000'],
    ['format', 'format=heic'],
    ['color', `color=${encodeURIComponent('#3366cc')}`],
    ['blurry', 'blurry=true'],
    ['q', 'q=beach'],
    ['ordering taken_at', 'ordering=taken_at'],
    ['ordering -taken_at', 'ordering=-taken_at'],
  ];
  return filters
    .filter(([, query]) => query !== null)
    .map(([name, query]) => ({ name, query, path: `/api/uploads?page_size=${pageSize}${query ? `&${query}` : ''}` }));
}

/** `n` requests one after another (nothing else in flight): the latency of a request on its own. */
async function singleLatency(baseUrl, request, n) {
  const times = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const res = await fetch(`${baseUrl}${request.path}`, { headers: request.headers });
    await res.arrayBuffer();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (!res.ok) failed++;
  }
  times.sort((a, b) => a - b);
  return { n, p50: times[Math.floor((n - 1) / 2)], min: times[0], max: times.at(-1), failed };
}

/** One request: status, and the page's `count` and results length when it is a DRF page. */
async function probe(baseUrl, request) {
  const res = await fetch(`${baseUrl}${request.path}`, { headers: request.headers });
  const text = await res.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: reported as text
  }
  return {
    ok: res.ok,
    status: res.status,
    text: text.slice(0, 200),
    count: body?.count ?? null,
    results: body?.results?.length ?? null,
  };
}

/**
 * The phase, called by run.js. deps: { settings, state, measure, restartApi, get, users (logged in,
 * with .token, in --big-users order), values, rows? }. Rows: one per (user, filter) with `ratio`
 * (p50/p99/req/s against that user's unfiltered run), then similar and duplicates of the biggest user.
 */
export async function searchPhase({ settings, state, measure, restartApi, get, users, values, rows = [] }) {
  if (!(await restartApi('search (CACHE_ENABLED=false)', { CACHE_ENABLED: 'false' }, 'api-search'))) return rows;
  const base = () => state.api.baseUrl;
  const filters = searchFilters(values, settings.searchPageSize);
  const record = async (row, request) => {
    row.single = await singleLatency(base(), request, settings.searchSingle);
    console.log(
      `    one at a time: p50 ${fmt(row.single.p50, 1)} ms (min ${fmt(row.single.min, 1)}, max ${fmt(row.single.max, 1)}) over ${row.single.n}`,
    );
    rows.push(row);
    await sleep(settings.pause * 1000);
  };
  for (const user of users) {
    // The unfiltered page first and again last: the reference is their mean, so a drift in the
    // machine's load over the block (other work on it) shows as two different unfiltered rows.
    const block = [];
    for (const filter of [...filters, { ...filters[0], name: 'unfiltered (again)' }]) {
      const request = get(filter.path, user.token);
      const check = await probe(base(), request);
      const label = `${filter.name} (${fmt(user.uploads)} uploads)`;
      if (!check.ok) {
        console.log(`  ! skipping search ${label}: HTTP ${check.status} ${check.text}`);
        state.notes.push(`search ${label} skipped: ${filter.path} → HTTP ${check.status} ${check.text}`);
        continue;
      }
      const c = settings.searchConnections;
      console.log(
        `\nsearch: ${label}, ${filter.path}, ${check.count} match, ${c} connections for ${settings.duration} s`,
      );
      const run = await measure(`search ${label}`, () => request, c);
      const row = {
        ...run,
        kind: 'list',
        filter: filter.name,
        path: filter.path,
        user: user.uploads,
        matches: check.count,
      };
      block.push(row);
      await record(row, request);
    }
    const references = block.filter((r) => r.filter.startsWith('unfiltered'));
    if (!references.length) continue;
    const mean = (f) => references.reduce((a, r) => a + f(r), 0) / references.length;
    const reference = {
      p50: mean((r) => r.latencyMs.p50),
      p99: mean((r) => r.latencyMs.p99),
      rps: mean((r) => r.rps),
      alone: mean((r) => r.single.min),
    };
    for (const row of block)
      row.ratio = {
        p50: row.latencyMs.p50 / reference.p50,
        p99: row.latencyMs.p99 / reference.p99,
        rps: reference.rps / row.rps,
        // One request at a time, the fastest of them: the statement's own cost, without the queueing
        // 100 connections add or a neighbour's burst on a shared machine.
        alone: row.single.min / reference.alone,
      };
  }
  // Similar photos and duplicate groups: the biggest library.
  const big = users.at(-1);
  const ids = values.similarIds;
  if (!ids.length) state.notes.push('search: no upload of the big library has a near-duplicate; similar not measured.');
  const heavy = [
    ...(ids.length
      ? [
          {
            name: 'similar',
            path: (k) => `/api/uploads/${ids[k % ids.length]}/similar`,
            of: `${ids.length} clustered uploads in turn`,
          },
        ]
      : []),
    {
      name: 'duplicates',
      path: () => `/api/uploads/duplicates?page_size=${settings.searchPageSize}`,
      of: 'first page',
    },
  ];
  for (const h of heavy) {
    let k = 0;
    const scenario = () => get(h.path(k++), big.token);
    const first = scenario();
    const check = await probe(base(), first);
    const label = `${h.name} (${fmt(big.uploads)} uploads)`;
    if (!check.ok) {
      console.log(`  ! skipping ${label}: HTTP ${check.status} ${check.text}`);
      state.notes.push(`search ${label} skipped: ${first.path} → HTTP ${check.status} ${check.text}`);
      continue;
    }
    const c = settings.searchHeavyConnections;
    console.log(`\n${label}: ${h.of}, ${check.count ?? '?'} results, ${c} connections for ${settings.duration} s`);
    const run = await measure(label, scenario, c);
    await record(
      { ...run, kind: h.name, filter: h.name, path: first.path, user: big.uploads, matches: check.count, ratio: null },
      first,
    );
  }
  return rows;
}

/** The report's table (Markdown or console, through report.js's table()). */
export const SEARCH_COLUMNS = [
  { title: 'uploads', value: (r) => fmt(r.user) },
  { title: 'request', value: (r) => r.filter, align: 'left' },
  { title: 'matches', value: (r) => fmt(r.matches) },
  { title: 'conns', value: (r) => r.connections },
  { title: 'req/s', value: (r) => fmt(r.rps) },
  { title: 'p50 ms', value: (r) => fmt(r.latencyMs.p50) },
  { title: 'p99 ms', value: (r) => fmt(r.latencyMs.p99) },
  { title: 'p50 ×', value: (r) => (r.ratio ? fmt(r.ratio.p50, 2) : '') },
  { title: 'p99 ×', value: (r) => (r.ratio ? fmt(r.ratio.p99, 2) : '') },
  { title: 'alone min ms', value: (r) => fmt(r.single?.min ?? null, 1) },
  { title: 'alone p50 ms', value: (r) => fmt(r.single?.p50 ?? null, 1) },
  { title: 'max ms', value: (r) => fmt(r.single?.max ?? null, 1) },
  { title: 'alone ×', value: (r) => (r.ratio ? fmt(r.ratio.alone, 2) : '') },
  { title: 'errors', value: (r) => `${r.errors}${r.timeouts ? ` (${r.timeouts} timeouts)` : ''}` },
  { title: 'non-2xx', value: (r) => r.non2xx },
  { title: 'db q/req', value: (r) => fmt(r.dbQueriesPerRequest, 2) },
  { title: 'target', value: verdict },
];

/** Issue 22's targets: a filter within 1.5× of the unfiltered uncached list (p50 and p99); duplicates under 300 ms alone. */
function verdict(r) {
  // Shed (503) or failed requests answer fast: their latencies say nothing about the statement.
  if (r.non2xx || r.errors) return `FAILED (${r.non2xx} non-2xx, ${r.errors} errors)`;
  if (r.kind === 'list')
    return r.ratio && r.filter !== 'unfiltered' ? (r.ratio.p50 <= 1.5 && r.ratio.p99 <= 1.5 ? 'ok' : 'OVER 1.5×') : '';
  if (r.kind === 'duplicates') return r.single ? (r.single.p50 < 300 ? 'ok (< 300 ms)' : 'OVER 300 ms') : '';
  return '';
}

export function searchMarkdown(rows, meta) {
  return [
    '',
    `## Search (issue 22): first pages uncached, page_size ${meta.pageSize}`,
    '',
    meta.table,
    '',
    `Users: the seed's big libraries (\`seed --big-users ${meta.bigUsers.join(',')}\`; every upload analysed, ~92 % completed).`,
    `Each list row is GET ${'`'}/api/uploads?page_size=${meta.pageSize}${'`'} plus the filter (the path is in the JSON, \`searchRuns\`), the same`,
    'request from every connection, on a fresh API with CACHE_ENABLED=false (as cold-page3): neither the page-body cache nor the',
    "list-count cache answers, so every request runs the page and its COUNT, and the caller's user row is read from the database",
    "too (as on the unfiltered rows: the ratio compares like with like). p50 × / p99 × = the row's latency ÷ the mean of the same",
    "user's two unfiltered rows (measured first and last, so load drift shows); target: ≤ 1.5 on both. matches = the filtered",
    'count. "alone" = sequential requests after the',
    `load (${meta.single} of each, nothing else in flight); alone × = their fastest ÷ the unfiltered rows' (the statement's own`,
    'cost, without queueing: the steadier figure on a shared machine). similar rotates over uploads that have a near-duplicate;',
    `similar and duplicates run at ${meta.heavyConnections} connections; the duplicates target (< 300 ms) reads the alone p50.`,
  ].join('\n');
}
