// The cold-users scenario's load: `connections` virtual users, each on its own keep-alive
// connection, take the next user that has not visited yet and run that user's visit in order
// (the steps), until every user has visited once. autocannon cycles a fixed request list per
// connection for a duration; a visit here is a sequence of one user's requests, each user once,
// so the load is a small loop on node:http instead.
import { Agent, request as httpRequest } from 'node:http';

/** The p-th percentile of an ascending list; null when empty. */
function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function send(agent, base, { method, path, headers, body }, timeoutMs) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = httpRequest(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers: body ? { ...headers, 'content-length': body.length } : headers,
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
        res.on('error', () => resolve({ error: 'response' }));
      },
    );
    req.on('timeout', () => {
      req.destroy();
      resolve({ error: 'timeout' });
    });
    req.on('error', (err) => resolve({ error: err.code ?? err.message }));
    req.end(body);
  });
}

/**
 * Runs every user's `steps` (functions (user, index) → {method, path, headers, body?}) once.
 * Returns the fields the harness reads from an autocannon result, plus `steps` (per-step counts
 * and latency percentiles).
 */
export async function runVisits(baseUrl, users, steps, { connections, timeoutMs, onTick }) {
  const base = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  const perStep = steps.map(({ name }) => ({ name, latencies: [], statuses: {}, errors: 0 }));
  const statusCodes = {};
  let errors = 0;
  let timeouts = 0;
  let completed = 0;
  let next = 0;
  let lastTick = 0;
  const started = Date.now();
  const ticker = setInterval(() => {
    onTick?.({ counter: completed - lastTick, total: completed, errors });
    lastTick = completed;
  }, 1000);
  const visitor = async () => {
    while (next < users.length) {
      const index = next++;
      for (const [s, step] of steps.entries()) {
        const out = await send(agent, base, step.request(users[index], index), timeoutMs);
        const stat = perStep[s];
        if (out.error) {
          errors++;
          stat.errors++;
          if (out.error === 'timeout') timeouts++;
          continue;
        }
        completed++;
        latencies.push(out.ms);
        stat.latencies.push(out.ms);
        statusCodes[out.status] = (statusCodes[out.status] ?? 0) + 1;
        stat.statuses[out.status] = (stat.statuses[out.status] ?? 0) + 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(connections, users.length) }, visitor));
  } finally {
    clearInterval(ticker);
    agent.destroy();
  }
  const seconds = (Date.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const count = (codes, test) =>
    Object.entries(codes).reduce((acc, [code, n]) => acc + (test(Number(code)) ? n : 0), 0);
  return {
    duration: seconds,
    requests: { total: completed, average: completed / seconds },
    latency: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? null },
    errors,
    timeouts,
    non2xx: count(statusCodes, (c) => c < 200 || c >= 300),
    '5xx': count(statusCodes, (c) => c >= 500),
    statusCodeStats: Object.fromEntries(Object.entries(statusCodes).map(([code, n]) => [code, { count: n }])),
    steps: perStep.map((st) => {
      const ms = st.latencies.sort((a, b) => a - b);
      return {
        step: st.name,
        requests: ms.length,
        p50: percentile(ms, 50),
        p99: percentile(ms, 99),
        max: ms.at(-1) ?? null,
        errors: st.errors,
        non2xx: count(st.statuses, (c) => c < 200 || c >= 300),
        statuses: st.statuses,
      };
    }),
  };
}
