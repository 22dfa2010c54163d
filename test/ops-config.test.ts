import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { servicesUp } from './support/app.js';
import { createTestDatabase, uniquePrefix } from './support/services.js';
import { builtEnv, distBuilt, EchoProcess, freePort, migrateBuilt } from './support/processes.js';
import { waitFor } from './support/wait.js';

/**
 * ops/ (issue 25): the Grafana dashboard and the Prometheus alert rules parse, and every metric
 * they name is one a live /metrics of the built API or worker exports; the compose profile wires
 * them. With promtool installed (Debian: `prometheus`), the rules, the scrape config and every
 * dashboard query are also checked by Prometheus' own parser, and the alert unit tests run.
 */
const DASHBOARD = 'ops/grafana/dashboards/echo.json';
const ALERTS = 'ops/prometheus/alerts.yml';
const PROMETHEUS = 'ops/prometheus/prometheus.yml';
const promtool = (() => {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr?: string }>;
}
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ definition: string }> };
};
const rules = (parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap(
  (g) => g.rules,
);
const dashboardExprs = dashboard.panels.flatMap((p) =>
  p.datasource?.type === 'prometheus' ? (p.targets ?? []).map((t) => t.expr!) : [],
);

// Words of PromQL that are not metric names when not followed by '(' (functions always are).
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression reads (Grafana's $variables removed). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ');
  const names: string[] = [];
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = bare.slice(m.index! + m[0].length).trimStart();
    if (!after.startsWith('(') && !KEYWORDS.has(m[0].toLowerCase())) names.push(m[0]);
  }
  return names;
}

/** `# TYPE` names of an exposition, with the series names a histogram or summary adds. */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}

describe('the dashboard and the alert rules parse and are complete', () => {
  it('dashboard: unique panel ids, every Prometheus panel has a query, the job variable and the issue\u2019s panels', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels.filter((q) => q.datasource?.type === 'prometheus')) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.expr, p.title).toMatch(/\S/);
    }
    const titles = dashboard.panels.map((p) => p.title).join('\n');
    for (const wanted of [
      /Requests per second by route/,
      /Latency p95 by route/,
      /5xx share by route/,
      /Cache hit ratio/,
      /Pool connections in use/,
      /waiting for a connection/,
      /Queue depth/,
      /Queue age/,
      /Failed jobs/,
      /Analysis duration/,
      /Analysis duration .* per format/,
      /Event streams open/,
      /RSS/,
      /traces/i,
    ])
      expect(titles).toMatch(wanted);
  });

  it('alerts: one rule per failure the drills know, each with a for, a severity and a summary', () => {
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'EchoDbPoolExhausted',
        'EchoQueueBackingUp',
        'EchoQueueJobsWaitingLong',
        'EchoAnalysesFailing',
        'EchoRedisDown',
        'EchoHigh5xxRate',
      ]),
    );
    for (const r of rules) {
      expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
      expect(['warning', 'critical'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toMatch(/\S/);
    }
  });

  it('metricNames reads PromQL as Prometheus does (labels, ranges and functions are not metrics)', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{job=~"$job",x="y"}[$__rate_interval]))) / on (instance) b and c > 0',
      ),
    ).toEqual(['a_bucket', 'b', 'c']);
    expect(metricNames('deriv(max by (queue) (q{state="waiting"})[10m:1m]) > 0 unless up == 1')).toEqual(['q', 'up']);
  });

  it.skipIf(!promtool)('promtool: the rules and scrape config are valid, every alert fires in its unit test', () => {
    const dir = mkdtempSync(join(tmpdir(), 'echo-ops-'));
    try {
      execFileSync('promtool', ['check', 'rules', ALERTS], { stdio: 'pipe' });
      execFileSync('promtool', ['test', 'rules', 'ops/prometheus/alerts.test.yml'], { stdio: 'pipe' });
      const config = readFileSync(PROMETHEUS, 'utf8')
        .replace('/etc/prometheus/alerts.yml', join(process.cwd(), ALERTS))
        .replaceAll('/prometheus/metrics-token', join(dir, 'metrics-token'));
      writeFileSync(join(dir, 'metrics-token'), 'token');
      writeFileSync(join(dir, 'prometheus.yml'), config);
      execFileSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { stdio: 'pipe' });
      // Every dashboard query through Prometheus' parser, as recording rules.
      const asRules = {
        groups: [
          {
            name: 'dashboard',
            rules: dashboardExprs.map((expr, i) => ({
              record: `dashboard:query_${i}`,
              expr: expr.replaceAll('$__rate_interval', '5m').replaceAll('$job', 'echo-.*'),
            })),
          },
        ],
      };
      writeFileSync(join(dir, 'dashboard-rules.json'), JSON.stringify(asRules));
      execFileSync('promtool', ['check', 'rules', join(dir, 'dashboard-rules.json')], { stdio: 'pipe' });
    } catch (err) {
      const e = err as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('docker-compose.yml: the observability profile runs Prometheus, Grafana and Jaeger on these files', () => {
    const compose = parseYaml(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
      services: Record<
        string,
        { image?: string; profiles?: string[]; volumes?: string[]; environment?: Record<string, string> }
      >;
    };
    for (const name of ['prometheus', 'grafana', 'jaeger']) {
      const service = compose.services[name];
      expect(service.profiles, name).toEqual(['observability']);
      expect(service.image, name).toMatch(/:v?\d+\.\d+\.\d+$/);
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (source.startsWith('./')) expect(existsSync(source), volume).toBe(true);
      }
    }
    // Off by default: the app's tracing variables default to empty (nothing loaded).
    for (const name of ['api', 'worker']) {
      expect(compose.services[name].profiles, name).toBeUndefined();
      expect(compose.services[name].environment).toMatchObject({
        OTEL_EXPORTER_OTLP_ENDPOINT: '${OTEL_EXPORTER_OTLP_ENDPOINT:-}',
        METRICS_HOST: '0.0.0.0',
        METRICS_TOKEN: '${METRICS_TOKEN:-}',
      });
    }
    const scrape = parseYaml(readFileSync(PROMETHEUS, 'utf8')) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    expect(scrape.scrape_configs.map((c) => [c.job_name, c.static_configs[0].targets])).toEqual([
      ['echo-api', ['api:9465']],
      ['echo-worker', ['worker:9464']],
    ]);
  });
});

const built = distBuilt('api') && distBuilt('worker') && distBuilt('cli');
describe.skipIf(!servicesUp() || !built)('every metric the dashboard and alerts read is exported', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const processes: EchoProcess[] = [];
  let names: Set<string>;

  beforeAll(async () => {
    db = await createTestDatabase('opsconfig');
    const [port, metricsPort] = [await freePort(), await freePort()];
    const env = builtEnv(db.url, uniquePrefix('opsconfig'), {
      PORT: String(port),
      API_WORKERS: '1',
      WORKER_METRICS_PORT: String(metricsPort),
    });
    await migrateBuilt(env);
    processes.push(EchoProcess.spawn('api', env), EchoProcess.spawn('worker', env));
    const scrape = (url: string) =>
      waitFor(
        async () => {
          const res = await fetch(url).catch(() => undefined);
          return res?.status === 200 ? res.text() : undefined;
        },
        60_000,
        url,
      );
    const texts = await Promise.all([
      scrape(`http://127.0.0.1:${port}/metrics`),
      scrape(`http://127.0.0.1:${metricsPort}/metrics`),
    ]);
    // `up` is Prometheus' own, one per scrape target.
    names = new Set(['up', ...texts.flatMap((t) => [...exported(t)])]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await db?.drop();
  });

  it('each name in a dashboard query, the dashboard variable and an alert rule', () => {
    const variable = dashboard.templating.list.map((v) => /label_values\((\w+)/.exec(v.definition)![1]);
    const used = new Set([
      ...dashboardExprs.flatMap(metricNames),
      ...variable,
      ...rules.flatMap((r) => metricNames(r.expr)),
    ]);
    expect(used.size).toBeGreaterThan(10);
    // The queue age, analysis duration per format and event-stream connections.
    for (const name of [
      'echo_queue_oldest_waiting_seconds',
      'echo_analysis_duration_seconds_bucket',
      'echo_event_streams_open',
    ])
      expect(used).toContain(name);
    expect([...used].filter((name) => !names.has(name))).toEqual([]);
  });
});
