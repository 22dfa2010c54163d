import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesUp } from './support/app.js';
import { createTestDatabase, uniquePrefix } from './support/services.js';
import { builtEnv, distBuilt, EchoProcess, freePort, migrateBuilt } from './support/processes.js';
import { ask, ClusterSet, parseInfo, redisBinariesAvailable, SentinelSet } from './support/redis-topology.js';
import { multipart, noisePng, solidPng } from './support/images.js';
import { SseReader } from './support/sse.js';
import { PASSWORD } from './support/users.js';
import { waitFor } from './support/wait.js';

/**
 * Issue 21 §2: Echo on a Sentinel-managed primary/replica set and on a 6-node Cluster, real
 * servers on private ports (test/support/redis-topology.ts), built API processes and a built
 * worker (dist/) on a fresh MariaDB database. The primary is SIGKILLed under a steady mix of
 * logins, uploads, cached reads and an SSE client; the drill prints time to recovery and what the
 * clients saw during the switch, and asserts the contract: no 500, no hang, 503s carry
 * Retry-After, no process exits, every upload gets its analysis and every analysis completes,
 * the SSE client gets the events after the switch and can resume with Last-Event-ID.
 */

const binaries = await redisBinariesAvailable();
const schemaJs = 'dist/libs/config/src/env.schema.js';
/** The build must know the topology variables (issue 21 §1); an older build would just ignore them. */
const topologiesBuilt = existsSync(schemaJs) && readFileSync(schemaJs, 'utf8').includes('REDIS_SENTINELS');
const built = distBuilt('api') && distBuilt('worker') && distBuilt('cli');
const drillsRun = servicesUp() && binaries && built && topologiesBuilt;
const skipped = !binaries
  ? 'SKIPPED: redis-server/redis-cli not installed'
  : !built
    ? 'SKIPPED: run `npx nest build` first'
    : !topologiesBuilt
      ? 'SKIPPED: this build of Echo has no REDIS_SENTINELS/REDIS_CLUSTER_NODES yet'
      : 'SKIPPED: MariaDB/Redis not available';

/** Every client request gives up after this: a request still open then is a hang (a failure). */
const CLIENT_TIMEOUT_MS = 10_000;

interface Account {
  id: number;
  username: string;
  auth: { authorization: string };
}

interface Outcome {
  kind: 'login' | 'upload' | 'me' | 'list';
  start: number;
  end: number;
  /** HTTP status; 0 = connection error, -1 = client timeout (a hang). */
  status: number;
  retryAfter: string | null;
  body: string;
}

interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

async function call(base: string, path: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) });
  const text = await res.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** A random client address per request (the API trusts 127.0.0.1 as its proxy), so the per-IP login limit never trips. */
const fromIp = () => ({ 'x-forwarded-for': `10.${randomBytes(3).join('.')}` });

async function registerOn(base: string, label: string): Promise<Account> {
  const username = `${label}_${randomBytes(4).toString('hex')}`;
  const res = await call(base, '/api/auth/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...fromIp() },
    body: JSON.stringify({ username, email: `${username}@example.com`, password: PASSWORD }),
  });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.user.id, username, auth: { authorization: `Bearer ${res.body.access}` } };
}

async function uploadOn(base: string, who: Account, data: Buffer): Promise<Reply> {
  const form = multipart([{ name: 'file', filename: 'p.png', data }]);
  return call(base, '/api/uploads', { method: 'POST', headers: { ...who.auth, ...form.headers }, body: form.payload });
}

/** A distinct small PNG per call (uploads are deduplicated by checksum). */
let imageSeq = 0;
const nextImage = () => {
  const n = imageSeq++;
  return solidPng(16 + (n % 40), 16 + Math.floor(n / 40), `#${randomBytes(3).toString('hex')}`);
};

/** Two built API processes and a built worker on one environment. */
class Fleet {
  readonly procs: EchoProcess[] = [];
  readonly bases: string[] = [];

  static async start(env: Record<string, string>): Promise<Fleet> {
    const fleet = new Fleet();
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      fleet.procs.push(EchoProcess.spawn('api', { ...env, PORT: String(port), API_WORKERS: '1', METRICS_PORT: '0' }));
      fleet.bases.push(`http://127.0.0.1:${port}`);
    }
    fleet.procs.push(EchoProcess.spawn('worker', { ...env, WORKER_METRICS_PORT: '0', WORKER_CONCURRENCY: '2' }));
    // Not waitFor: it would retry past a process that already exited (a config error at start).
    const deadline = Date.now() + 40_000;
    try {
      await fleet.ready(deadline);
    } catch (err) {
      await fleet.stop();
      throw err;
    }
    return fleet;
  }

  private async ready(deadline: number): Promise<void> {
    for (const base of this.bases) {
      for (;;) {
        const dead = this.procs.find((p) => p.exited);
        if (dead) throw new Error(`an Echo process exited at start:\n${dead.output.slice(-4000)}`);
        if ((await call(base, '/health/ready').catch(() => undefined))?.status === 200) break;
        if (Date.now() > deadline) throw new Error(`${base}/health/ready never answered 200:\n${this.output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  get output(): string {
    return this.procs.map((p, i) => `--- process ${i} ---\n${p.output.slice(-3000)}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.kill('SIGKILL')));
  }
}

/** Environment shared by both topologies: fast stuck-job recovery, room for the mix's logins and replays. */
const drillEnv = (dbUrl: string, prefix: string, redis: Record<string, string>) => {
  const env = builtEnv(dbUrl, prefix, {
    ...redis,
    // Redis Cluster has one db: the cache and the queue are kept apart by different prefixes.
    QUEUE_PREFIX: `${prefix}_q`,
    THROTTLE_AUTH_LIMIT: '10',
    TRUST_PROXY: '127.0.0.1',
    QUEUE_LOCK_DURATION_MS: '2000',
    ANALYSIS_STUCK_AFTER_SECONDS: '2',
    MAINTENANCE_EVERY_SECONDS: '1',
    SSE_HEARTBEAT_SECONDS: '1',
    SSE_REPLAY_EVENTS: '5000',
    TUS_DIR: `.data/test-tus/${prefix}`,
  });
  if (!redis.REDIS_URL) delete env.REDIS_URL; // exactly one topology
  return env;
};

interface Topology {
  /** SIGKILLs the primary that matters most; resolves once the servers have promoted a replica. */
  killPrimary(): Promise<{ killed: number; promoted: number }>;
}

/**
 * The steady mix, the kill, recovery, and the accounting. Returns the numbers it printed.
 */
async function failoverDrill(label: string, fleet: Fleet, dbUrl: string, prefix: string, topology: Topology) {
  const { bases } = fleet;
  const uploader = await registerOn(bases[0], `${label}_up`);
  const readers = [uploader, await registerOn(bases[1], `${label}_rd`)];
  const loginAccounts: Account[] = [];
  for (let i = 0; i < 10; i++) loginAccounts.push(await registerOn(bases[i % 2], `${label}_li`));

  const outcomes: Outcome[] = [];
  const accepted: { uploadId: string; analysisId: string; start: number; end: number }[] = [];
  let running = true;
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  const timed = async (kind: Outcome['kind'], send: () => Promise<Reply>): Promise<Reply | undefined> => {
    const start = Date.now();
    try {
      const res = await send();
      const retryAfter = res.headers.get('retry-after');
      outcomes.push({ kind, start, end: Date.now(), status: res.status, retryAfter, body: res.text.slice(0, 300) });
      return res;
    } catch (err) {
      const timeout = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      outcomes.push({ kind, start, end: Date.now(), status: timeout ? -1 : 0, retryAfter: null, body: String(err) });
      return undefined;
    }
  };

  const loops = [
    // Uploads (queue-dependent writes), alternating between the API processes.
    (async () => {
      for (let i = 0; running; i++) {
        const start = Date.now();
        const res = await timed('upload', async () => uploadOn(bases[i % 2], uploader, await nextImage()));
        if (res?.status === 201)
          accepted.push({ uploadId: res.body.id, analysisId: res.body.analysis.id, start, end: Date.now() });
        await pause(150);
      }
    })(),
    // Logins (throttler storage + refresh tokens), a different account and client address each time.
    (async () => {
      for (let i = 0; running; i++) {
        const who = loginAccounts[i % loginAccounts.length];
        await timed('login', () =>
          call(bases[i % 2], '/api/auth/login', {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...fromIp() },
            body: JSON.stringify({ username: who.username, password: PASSWORD }),
          }),
        );
        await pause(400);
      }
    })(),
    // Cached reads: the profile (cache-aside) and the first page of uploads (page cache).
    ...[0, 1].map(async (r) => {
      for (let i = 0; running; i++) {
        const who = readers[r];
        await timed(i % 2 ? 'list' : 'me', () =>
          call(bases[(i + r) % 2], i % 2 ? '/api/uploads?page_size=5' : '/api/users/me', { headers: who.auth }),
        );
        await pause(40);
      }
    }),
  ];

  // The SSE client: one stream at a time; when it ends or cannot open, it reopens with Last-Event-ID.
  const sse = { opens: [] as { at: number; status: number; lastEventId?: string }[], seen: new Map<string, number>() };
  const received: { id: string; analysisId: string; status: string; at: number }[] = [];
  let lastEventId: string | undefined;
  let current: SseReader | undefined;
  const sseLoop = (async () => {
    for (let i = 0; running; i++) {
      const headers: Record<string, string> = {
        ...uploader.auth,
        ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
      };
      const opened = await SseReader.open(`${bases[(i + 1) % 2]}/api/visual-analysis/events`, headers).catch(
        () => undefined,
      );
      sse.opens.push({ at: Date.now(), status: opened?.status ?? 0, lastEventId });
      if (!opened || opened.status !== 200) {
        await pause(500);
        continue;
      }
      current = opened;
      let taken = 0;
      while (running && !opened.ended) {
        for (; taken < opened.messages.length; taken++) {
          const m = opened.messages[taken];
          if (m.event !== 'analysis' || !m.id) continue;
          sse.seen.set(m.id, (sse.seen.get(m.id) ?? 0) + 1);
          const data = JSON.parse(m.data) as { analysis_id: string; status: string };
          received.push({ id: m.id, analysisId: data.analysis_id, status: data.status, at: m.receivedAt });
          lastEventId = m.id;
        }
        await pause(50);
      }
      opened.close();
    }
  })();

  const db = await mysql.createConnection({ uri: dbUrl });
  try {
    await pause(3000); // steady state before the fault
    const before = outcomes.length;
    expect(
      outcomes.filter((o) => o.status < 200 || o.status >= 300),
      fleet.output,
    ).toEqual([]);
    const lastBeforeKill = lastEventId;

    const killedAt = Date.now();
    const { killed, promoted } = await topology.killPrimary();
    const promotedAt = Date.now();
    // Echo follows by itself: both APIs report ready again (database, cache and queue answering)…
    const lastReady: string[] = [];
    await waitFor(
      async () => {
        for (const [i, base] of bases.entries()) {
          const res: Reply | Error = await call(base, '/health/ready').catch((err: Error) => err);
          if (!(res instanceof Error) && res.status === 200) continue;
          lastReady[i] = res instanceof Error ? String(res) : `${res.status} ${res.text}`;
          return false;
        }
        return true;
      },
      40_000,
      'both APIs ready after the failover',
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last /health/ready: ${JSON.stringify(lastReady)}\n${fleet.output}`);
    });
    const readyAt = Date.now();
    // …and an upload accepted after the kill gets its analysis done through the new primary.
    const completedAfterKill = async () => {
      const after = accepted.filter((a) => a.start >= killedAt).map((a) => a.analysisId);
      if (!after.length) return false;
      const [rows] = await db.query(
        `SELECT COUNT(*) AS n FROM visual_analysis_results WHERE status = 'completed' AND id IN (?)`,
        [after],
      );
      return Number((rows as { n: number }[])[0].n) > 0;
    };
    await waitFor(completedAfterKill, 40_000, 'an analysis of an upload made after the kill to complete');
    const queueAt = Date.now();
    const recoveredAt = Math.max(readyAt, queueAt);

    await pause(3000); // steady state after recovery
    running = false;
    current?.close();
    await Promise.all([...loops, sseLoop]);

    // Accounting: during the switch = requests started between the kill and recovery.
    const during = outcomes.filter((o) => o.start >= killedAt && o.start <= recoveredAt);
    const ok = (o: Outcome) => o.status >= 200 && o.status < 300;
    const refused = (o: Outcome) => o.status === 503;
    const failed = outcomes.filter((o) => !ok(o) && !refused(o));
    const report = {
      topology: label,
      killed_port: killed,
      promoted_port: promoted,
      servers_promoted_ms: promotedAt - killedAt,
      apis_ready_ms: readyAt - killedAt,
      first_job_done_ms: queueAt - killedAt,
      recovery_ms: recoveredAt - killedAt,
      requests_total: outcomes.length,
      requests_before_kill: before,
      during_switch: {
        answered: during.filter(ok).length,
        '503': during.filter(refused).length,
        failed: during.filter((o) => !ok(o) && !refused(o)).length,
        slowest_ms: Math.max(0, ...during.map((o) => o.end - o.start)),
      },
      failed_total: failed.length,
      uploads_accepted: accepted.length,
      sse_opens: sse.opens.length,
      sse_events: received.length,
    };

    // Every analysis completes (the reconciler re-enqueues what the lost primary took with it).
    const [uploadRows] = await db.query('SELECT id FROM uploads WHERE user_id = ?', [uploader.id]);
    const uploadIds = (uploadRows as { id: string }[]).map((r) => String(r.id));
    const analyses = await waitFor(
      async () => {
        const [rows] = await db.query(
          'SELECT a.id, a.upload_id, a.status FROM visual_analysis_results a JOIN uploads u ON u.id = a.upload_id WHERE u.user_id = ?',
          [uploader.id],
        );
        const list = rows as { id: string; upload_id: string; status: string }[];
        return list.length >= uploadIds.length && list.every((r) => r.status === 'completed') ? list : undefined;
      },
      45_000,
      'every analysis to complete',
    ).catch(async (err) => {
      const [rows] = await db.query(
        'SELECT a.status, COUNT(*) AS n FROM visual_analysis_results a JOIN uploads u ON u.id = a.upload_id WHERE u.user_id = ? GROUP BY a.status',
        [uploader.id],
      );
      throw new Error(`${(err as Error).message}: ${JSON.stringify(rows)}\n${fleet.output}`);
    });
    const withAnalysis = new Set(analyses.map((a) => String(a.upload_id)));
    const jobsLost = uploadIds.filter((id) => !withAnalysis.has(id)).length;
    Object.assign(report, {
      uploads_in_db: uploadIds.length,
      analyses_completed: analyses.length,
      jobs_lost: jobsLost,
    });
    console.log(`[redis-failover] ${JSON.stringify(report)}`);

    // No 500, no hang, no dropped connection; every 503 tells the client when to come back.
    expect(
      failed.map((o) => `${o.kind} ${o.status} ${o.body}`),
      fleet.output,
    ).toEqual([]);
    for (const o of outcomes.filter(refused)) expect(Number(o.retryAfter), o.body).toBeGreaterThan(0);
    // No process exited.
    expect(
      fleet.procs.map((p) => p.exited),
      fleet.output,
    ).toEqual([false, false, false]);
    // Every accepted upload is in the database with its analysis; every analysis completed.
    for (const a of accepted) expect(uploadIds).toContain(String(a.uploadId));
    expect(jobsLost).toBe(0);

    // The SSE client got the events after the switch: every upload accepted after recovery
    // reached it as `completed`, each event id once (a resume with Last-Event-ID replays only what was missed).
    const completedSeen = new Set(received.filter((e) => e.status === 'completed').map((e) => e.analysisId));
    const afterRecovery = accepted.filter((a) => a.start >= recoveredAt).map((a) => a.analysisId);
    // The last ones may still have been running when the mix stopped: they are checked by the resume below.
    const settled = afterRecovery.filter((id) => analyses.some((a) => a.id === id));
    expect(afterRecovery.length).toBeGreaterThan(0);
    const missedLive = settled.filter((id) => !completedSeen.has(id));
    expect([...sse.seen.values()].filter((n) => n > 1)).toEqual([]);
    for (const open of sse.opens.slice(1).filter((o) => o.status === 200)) expect(open.lastEventId).toBeTruthy();

    // A client that was away since before the kill resumes with its Last-Event-ID on the new
    // primary: it is replayed everything after, the post-recovery completions included.
    expect(lastBeforeKill).toBeTruthy();
    const resumed = await SseReader.open(`${bases[0]}/api/visual-analysis/events`, {
      ...uploader.auth,
      'last-event-id': lastBeforeKill!,
    });
    expect(resumed.status).toBe(200);
    const replayed = await resumed
      .waitFor(
        (r) => {
          const done = new Set(
            r
              .analysis<{ analysis_id: string; status: string }>()
              .filter((e) => e.status === 'completed')
              .map((e) => e.analysis_id),
          );
          return afterRecovery.every((id) => done.has(id)) ? done : undefined;
        },
        15_000,
        'the replay after the failover',
      )
      .catch((err: Error) => {
        const got = resumed.messages.map((m) => `${m.event} ${m.id ?? ''} ${m.data.slice(0, 80)}`).slice(0, 10);
        throw new Error(`${err.message}; received: ${JSON.stringify(got)}`);
      })
      .finally(() => resumed.close());
    expect(missedLive.filter((id) => !replayed.has(id))).toEqual([]);
    return report;
  } finally {
    running = false;
    current?.close();
    await db.end();
  }
}

/* ------------------------------------------------------------------------------------------ */

describe.skipIf(!binaries)('drill servers: Sentinel set and Cluster (test/support/redis-topology.ts)', () => {
  it('a Sentinel set promotes the replica after the primary is SIGKILLed, with the data it had', async () => {
    const set = await SentinelSet.start();
    try {
      const first = await set.primaryPort();
      expect(set.data.map((n) => n.port)).toContain(first);
      await ask(first!, (r) => r.set('drill:key', 'kept'));
      await waitFor(
        async () => (await ask(set.data.find((n) => n.port !== first)!.port, (r) => r.get('drill:key'))) === 'kept',
        5000,
        'replication',
      );
      const started = Date.now();
      const killed = await set.killPrimary();
      const next = await set.waitForNewPrimary(killed);
      console.log(`[redis-topology] sentinel failover in ${Date.now() - started} ms (${killed} → ${next})`);
      expect(next).not.toBe(killed);
      expect(await ask(next, (r) => r.get('drill:key'))).toBe('kept');
      expect(await ask(next, (r) => r.set('drill:after', '1'))).toBe('OK'); // writable
    } finally {
      await set.stop();
    }
  }, 60_000);

  it('a 6-node Cluster serves every slot; a SIGKILLed primary is replaced by its replica', async () => {
    const cluster = await ClusterSet.start();
    try {
      const primaries = await cluster.primaryPorts();
      expect(primaries).toHaveLength(3);
      const port = await cluster.portForKey('{drill}:key');
      await ask(port!, (r) => r.set('{drill}:key', 'kept'));
      // Replication is asynchronous: the replica must hold the key before its primary dies (a kill
      // right after the write lost it once in CI). WAIT returns how many replicas acknowledged it.
      await waitFor(async () => (await ask(port!, (r) => r.wait(1, 500))) === 1, 10_000, 'the replica acknowledged');
      const started = Date.now();
      const { killed, replica } = await cluster.killPrimary(port);
      await cluster.waitForPromotion(replica);
      console.log(`[redis-topology] cluster failover in ${Date.now() - started} ms (${killed} → ${replica})`);
      expect(await cluster.portForKey('{drill}:key')).toBe(replica);
      await waitFor(async () => (await ask(replica, (r) => r.get('{drill}:key'))) === 'kept', 5000, 'the key');
      const info = parseInfo((await ask(replica, (r) => r.info('replication'))) ?? '');
      expect(info.role).toBe('master');
    } finally {
      await cluster.stop();
    }
  }, 90_000);
});

describe.skipIf(!drillsRun)(
  drillsRun
    ? 'Sentinel failover drill: 2 APIs + a worker, primary SIGKILLed under load'
    : `Sentinel failover drill — ${skipped}`,
  () => {
    let set: SentinelSet;
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let fleet: Fleet;
    let prefix: string;

    beforeAll(async () => {
      set = await SentinelSet.start();
      db = await createTestDatabase('sentinel');
      prefix = uniquePrefix('sentinel');
      const env = drillEnv(db.url, prefix, { REDIS_SENTINELS: set.sentinelsEnv, REDIS_SENTINEL_NAME: set.name });
      await migrateBuilt(env);
      fleet = await Fleet.start(env);
    }, 90_000);
    afterAll(async () => {
      await fleet?.stop();
      await set?.stop();
      await db?.drop();
    });

    it('Echo follows the promoted replica: no 500, no hang, no job lost, SSE resumes', async () => {
      await failoverDrill('sentinel', fleet, db.url, prefix, {
        killPrimary: async () => {
          const killed = await set.killPrimary();
          const promoted = await set.waitForNewPrimary(killed);
          return { killed, promoted };
        },
      });
      // Echo's keys are on the promoted node now (the old one is dead: nothing else could have written them).
      const promoted = (await set.primaryPort())!;
      const keys = await ask(promoted, (r) => r.keys(`*${prefix}*`));
      expect(keys?.length).toBeGreaterThan(0);
    }, 150_000);
  },
);

describe.skipIf(!drillsRun)(
  drillsRun
    ? 'Cluster drill: 3 primaries + 3 replicas, the app flows, then a primary SIGKILLed'
    : `Cluster drill — ${skipped}`,
  () => {
    let cluster: ClusterSet;
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let fleet: Fleet;
    let prefix: string;

    beforeAll(async () => {
      cluster = await ClusterSet.start();
      db = await createTestDatabase('cluster');
      // A prefix whose queue hash slot is on the primary of slot 0 (the first primary a client
      // lists, which some use for whole-cluster commands like a health PING): the kill below then
      // hits the queue, that first primary and a third of the cache keys at once, every run.
      const first = await cluster.portForSlot(0);
      do prefix = uniquePrefix('cluster');
      while ((await cluster.portForKey(`{${prefix}_q}`)) !== first);
      const env = drillEnv(db.url, prefix, { REDIS_CLUSTER_NODES: cluster.nodesEnv });
      await migrateBuilt(env);
      fleet = await Fleet.start(env);
    }, 120_000);
    afterAll(async () => {
      await fleet?.stop();
      await cluster?.stop();
      await db?.drop();
    });

    it('upload → analysis completed → lists and events; throttling shared; tus across processes', async () => {
      const [A, B] = fleet.bases;
      const alice = await registerOn(A, 'alice');
      const stream = await SseReader.open(`${B}/api/visual-analysis/events`, alice.auth);
      expect(stream.status).toBe(200);
      try {
        const up = await uploadOn(A, alice, await nextImage());
        expect(up.status, up.text).toBe(201);
        const analysisId = up.body.analysis.id as string;
        await stream.waitFor(
          (r) =>
            r
              .analysis<{ analysis_id: string; status: string }>()
              .some((e) => e.analysis_id === analysisId && e.status === 'completed'),
          30_000,
          'the completed event (published on the cluster, read on the other API)',
        );
        const statuses = stream
          .analysis<{ analysis_id: string; status: string }>()
          .filter((e) => e.analysis_id === analysisId)
          .map((e) => e.status);
        expect(statuses).toEqual(['queued', 'processing', 'completed']);
        const list = await call(B, '/api/uploads', { headers: alice.auth });
        expect(list.status).toBe(200);
        expect(list.body.results.map((u: { id: string }) => u.id)).toEqual([up.body.id]);
        expect(list.body.results[0].analysis.status).toBe('completed');
        const one = await call(A, `/api/visual-analysis/${analysisId}`, { headers: alice.auth });
        expect(one.body.status).toBe('completed');
      } finally {
        stream.close();
      }

      // Throttling: the per-account limit (10) is shared by both processes through the cluster.
      const ip = fromIp();
      const attempt = (base: string) =>
        call(base, '/api/auth/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...ip },
          body: JSON.stringify({ username: alice.username, password: 'wrong-password-1' }),
        });
      for (let i = 0; i < 10; i++) expect((await attempt(fleet.bases[i % 2])).status).toBe(401);
      const limited = await attempt(A);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);

      // tus: created on A, continued on B, finished on A (the Redis locker and slots on the cluster).
      const png = await noisePng(200, 200);
      const tus = { ...alice.auth, 'tus-resumable': '1.0.0' };
      const created = await call(A, '/api/uploads/tus', {
        method: 'POST',
        headers: {
          ...tus,
          'upload-length': String(png.length),
          'upload-metadata': `filename ${Buffer.from('t.png').toString('base64')}`,
        },
      });
      expect(created.status, created.text).toBe(201);
      const location = new URL(created.headers.get('location')!, A).pathname;
      const patch = (base: string, offset: number, part: Buffer) =>
        call(base, location, {
          method: 'PATCH',
          headers: { ...tus, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
          body: part,
        });
      expect((await patch(B, 0, png.subarray(0, 50_000))).status).toBe(204);
      const done = await patch(A, 50_000, png.subarray(50_000));
      expect(done.status, done.text).toBe(201);
      const tusAnalysis = done.body.analysis.id as string;
      await waitFor(
        async () =>
          (await call(B, `/api/visual-analysis/${tusAnalysis}`, { headers: alice.auth })).body?.status === 'completed',
        30_000,
        'the tus upload analysis',
      );
    }, 90_000);

    it('a primary SIGKILLed under load: the same assertions as on Sentinel', async () => {
      // The primary serving the queue's hash slot (BullMQ's `{prefix}`) and slot 0 (see beforeAll).
      const queuePrimary = await cluster.portForKey(`{${prefix}_q}`);
      expect(queuePrimary).toBe(await cluster.portForSlot(0));
      await failoverDrill('cluster', fleet, db.url, prefix, {
        killPrimary: async () => {
          const { killed, replica } = await cluster.killPrimary(queuePrimary);
          await cluster.waitForPromotion(replica);
          return { killed, promoted: replica };
        },
      });
    }, 150_000);
  },
);
