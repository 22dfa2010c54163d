import { createHash, randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EventSource } from 'eventsource';
import { Redis } from 'ioredis';
import { loadConfig } from '@echo/config';
import { EventsRedis } from '../libs/visual-analysis/src/events/events-redis.js';
import { RedisEventBus } from '../libs/visual-analysis/src/events/redis-event-bus.js';
import { compareEventIds } from '../libs/visual-analysis/src/events/analysis-event.js';
import { AnalysisEventBus } from '@echo/visual-analysis';
import { UsersService } from '@echo/users';
import { servicesUp, startEmbedded, startStack, type TestStack } from './support/app.js';
import { createTestDatabase, REDIS_URL, uniquePrefix } from './support/services.js';
import { builtEnv, distBuilt, EchoProcess, freePort, migrateBuilt, PrivateRedis } from './support/processes.js';
import { multipart, solidJpeg } from './support/images.js';
import { SseReader } from './support/sse.js';
import { PASSWORD } from './support/users.js';
import { waitFor } from './support/wait.js';

interface Analysis {
  analysis_id: string;
  upload_id: string;
  status: string;
  progress: number;
  error: string | null;
  summary: Record<string, unknown> | null;
  at: string;
  event_id: string;
}

interface Account {
  id: number;
  access: string;
  auth: { authorization: string };
}

async function json(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
}

async function registerOn(base: string, prefix: string): Promise<Account> {
  const username = `${prefix}_${Math.random().toString(16).slice(2, 10)}`;
  const res = await fetch(`${base}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.com`, password: PASSWORD }),
  });
  const body = await json(res);
  expect(res.status, JSON.stringify(body)).toBe(201);
  const access = body.access as string;
  return { id: (body.user as { id: number }).id, access, auth: { authorization: `Bearer ${access}` } };
}

/** Random pixels: a large one takes the analyzer a while (long enough to stop a worker mid-job). */
function noiseJpeg(width: number, height: number): Promise<Buffer> {
  return sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

async function uploadOn(
  base: string,
  who: Account,
  color = '#3366cc',
  image?: Buffer,
): Promise<{ id: string; analysis: { id: string } }> {
  const form = multipart([{ name: 'file', filename: 'p.jpg', data: image ?? (await solidJpeg(96, 64, color)) }]);
  const res = await fetch(`${base}/api/uploads`, {
    method: 'POST',
    headers: { ...who.auth, ...form.headers },
    body: form.payload,
  });
  const body = await json(res);
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body as unknown as { id: string; analysis: { id: string } };
}

async function ticketOn(base: string, who: Account): Promise<string> {
  const res = await fetch(`${base}/api/auth/stream-ticket`, { method: 'POST', headers: who.auth });
  const body = await json(res);
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(Object.keys(body)).toEqual(['ticket']);
  return body.ticket as string;
}

/** One analysis' statuses in the order they arrived, repeats (progress) collapsed. */
function statusesOf(events: Analysis[], analysisId: string): string[] {
  return events
    .filter((e) => e.analysis_id === analysisId)
    .map((e) => e.status)
    .filter((s, i, all) => s !== all[i - 1]);
}

const completedFor = (id: string) => (r: SseReader) =>
  r.analysis<Analysis>().some((e) => e.analysis_id === id && e.status === 'completed');
const rssKb = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

describe('embedded mode: events in-process', () => {
  let stack: TestStack;
  let base: string;
  let alice: Account;

  beforeAll(async () => {
    stack = await startEmbedded('sse_embedded', { SSE_MAX_CONNECTIONS_PER_USER: '2', SSE_HEARTBEAT_SECONDS: '1' });
    await stack.api.listen(0, '127.0.0.1');
    base = await stack.api.getUrl();
    base = base.replace('[::1]', '127.0.0.1');
    alice = await registerOn(base, 'emb');
  });
  afterAll(() => stack?.close().catch(() => undefined));

  it('an upload shows queued → processing → completed (with a summary) on the stream', async () => {
    const stream = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    const up = await uploadOn(base, alice);
    await stream.waitFor(completedFor(up.analysis.id), 30_000, 'completed');
    const events = stream.analysis<Analysis>();
    expect(statusesOf(events, up.analysis.id)).toEqual(['queued', 'processing', 'completed']);
    const done = events.find((e) => e.status === 'completed')!;
    expect(done).toMatchObject({ upload_id: up.id, progress: 100, error: null });
    expect(done.summary).toMatchObject({ format: 'jpeg', width: 96, height: 64, near_duplicates: 0 });
    stream.close();
  });

  it('the connection cap answers 429 with a DRF body, and a closed stream frees its slot', async () => {
    const a = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
    const b = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
    const c = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
    expect([a.status, b.status, c.status]).toEqual([200, 200, 429]);
    await c.waitFor((r) => r.ended, 5000, 'the 429 body');
    expect(JSON.parse(c.body)).toEqual({ detail: expect.stringMatching(/Too many open event streams/) });
    expect(c.headers['retry-after']).toBe('5');
    a.close();
    const d = await waitFor(
      async () => {
        const r = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
        if (r.status === 200) return r;
        r.close();
        return undefined;
      },
      5000,
      'a free slot',
    );
    b.close();
    d.close();
  });

  it('a ticket opens the stream once and expires after 60 s', async () => {
    const once = await ticketOn(base, alice);
    const first = await SseReader.open(`${base}/api/visual-analysis/events?ticket=${once}`);
    expect(first.status).toBe(200);
    first.close();
    const again = await SseReader.open(`${base}/api/visual-analysis/events?ticket=${once}`);
    expect(again.status).toBe(401);

    const late = await ticketOn(base, alice);
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 61_000);
      const expired = await SseReader.open(`${base}/api/visual-analysis/events?ticket=${late}`);
      expect(expired.status).toBe(401);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a user deactivated meanwhile loses the stream at the next heartbeat', async () => {
    const carol = await registerOn(base, 'carol');
    const stream = await SseReader.open(`${base}/api/visual-analysis/events`, carol.auth);
    expect(stream.status).toBe(200);
    await stream.waitFor((r) => r.comments.includes('ping'), 5000, 'a heartbeat');
    expect(stream.ended).toBe(false);
    await stack.api.get(UsersService).adminUpdate(carol.id, { is_active: false });
    await stream.waitFor((r) => r.ended, 5000, 'the stream to end');
    const again = await SseReader.open(`${base}/api/visual-analysis/events`, carol.auth);
    expect(again.status).toBe(401);
  });

  it('closing the app ends open streams instead of waiting on them', async () => {
    const stream = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
    expect(stream.status).toBe(200);
    const t0 = Date.now();
    await stack.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    await stream.waitFor((r) => r.ended, 5000, 'the stream to end');
  });
});

describe.skipIf(!servicesUp())('Redis away', () => {
  let redis: PrivateRedis;
  let stack: TestStack;
  let base: string;
  let alice: Account;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startStack('sse_redis_down', { REDIS_URL: redis.url });
    await stack.api.listen(0, '127.0.0.1');
    base = (await stack.api.getUrl()).replace('[::1]', '127.0.0.1');
    alice = await registerOn(base, 'down');
  });
  afterAll(async () => {
    // BullMQ's queue connections, closed while still reconnecting, outlive app.close() (and log
    // reconnect errors after Redis stops): let them reconnect first.
    await waitFor(
      async () => (await fetch(`${base}/health/ready`)).status === 200,
      15_000,
      'the queue to reconnect',
    ).catch(() => undefined);
    await stack?.close();
    await redis?.stop();
  });

  it('a stream cannot open (503 + Retry-After, no hang); it opens again once Redis is back', async () => {
    const before = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
    expect(before.status).toBe(200);
    before.close();
    await redis.stop();
    const t0 = Date.now();
    const refused = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    await refused.waitFor((r) => r.ended, 5000, 'the 503 body');
    expect(JSON.parse(refused.body)).toEqual({ detail: expect.any(String) });
    expect(Date.now() - t0).toBeLessThan(3000);
    await redis.start();
    const after = await waitFor(
      async () => {
        const s = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
        if (s.status === 200) return s;
        s.close();
        return undefined;
      },
      15_000,
      'a stream after Redis came back',
    );
    after.close();
  });

  it('a dropped subscriber connection catches up from the replay window: every event once, in order', async () => {
    const stream = await SseReader.open(`${base}/api/visual-analysis/events`, alice.auth);
    expect(stream.status).toBe(200);
    const bus = stack.api.get(AnalysisEventBus);
    await bus.publish(alice.id, JSON.stringify({ n: 0 }));
    await stream.waitFor((r) => r.messages.length === 1, 5000, 'the first event');
    // Kill the API's pub/sub connection, then publish while it reconnects.
    await redis.command((r) => r.client('KILL', 'TYPE', 'pubsub'));
    for (let n = 1; n <= 50; n++) await bus.publish(alice.id, JSON.stringify({ n }));
    await stream.waitFor((r) => r.messages.length >= 51, 10_000, 'all 51 events');
    await new Promise((r) => setTimeout(r, 300));
    expect(stream.messages.map((m) => JSON.parse(m.data).n)).toEqual(Array.from({ length: 51 }, (_, n) => n));
    stream.close();
  });
});

const built = distBuilt('api') && distBuilt('worker') && distBuilt('cli');
describe.skipIf(!servicesUp() || !built)(
  built
    ? 'two API processes and a worker (built apps): events cross processes'
    : 'SSE across processes — SKIPPED: run `npx nest build` first',
  () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let env: Record<string, string>;
    let apiA: EchoProcess;
    let apiB: EchoProcess;
    let worker: EchoProcess;
    let A: string;
    let B: string;
    let portB: number;
    let alice: Account;
    let bob: Account;
    let redis: Redis;

    beforeAll(async () => {
      db = await createTestDatabase('sse');
      const prefix = uniquePrefix('sse');
      const [pa, pb] = [await freePort(), await freePort()];
      portB = pb;
      [A, B] = [`http://127.0.0.1:${pa}`, `http://127.0.0.1:${pb}`];
      env = builtEnv(db.url, prefix, {
        API_WORKERS: '1',
        SSE_MAX_CONNECTIONS_PER_USER: '3',
        SSE_HEARTBEAT_SECONDS: '1',
      });
      await migrateBuilt(env);
      apiA = EchoProcess.spawn('api', { ...env, PORT: String(pa) });
      apiB = EchoProcess.spawn('api', { ...env, PORT: String(pb) });
      worker = EchoProcess.spawn('worker', env);
      for (const [api, base] of [
        [apiA, A],
        [apiB, B],
      ] as const) {
        await waitFor(
          async () => {
            if (api.exited) throw new Error(`an API exited: ${api.output}`);
            return (await fetch(`${base}/health`)).status === 200;
          },
          40_000,
          `${base}/health`,
        );
      }
      alice = await registerOn(A, 'alice');
      bob = await registerOn(B, 'bob');
      // Events and tickets live on the queue Redis (noeviction), issue 21.
      redis = new Redis(REDIS_URL, { db: loadConfig(env).redis.queueDb });
    }, 90_000);

    afterAll(async () => {
      redis?.disconnect();
      await Promise.all([apiA?.kill('SIGKILL'), apiB?.kill('SIGKILL'), worker?.kill('SIGKILL')]);
      await db?.drop();
    });

    let lastSeen: string;

    it('upload on API A → the stream on API B shows queued → processing → completed; nobody else sees it', async () => {
      const aliceStream = await SseReader.open(`${B}/api/visual-analysis/events`, alice.auth);
      const bobStream = await SseReader.open(`${A}/api/visual-analysis/events`, bob.auth);
      expect([aliceStream.status, bobStream.status]).toEqual([200, 200]);

      const up = await uploadOn(A, alice);
      const bobs = await uploadOn(B, bob, '#cc3366');
      await aliceStream.waitFor(completedFor(up.analysis.id), 40_000, 'alice: completed');
      await bobStream.waitFor(completedFor(bobs.analysis.id), 40_000, 'bob: completed');

      const events = aliceStream.analysis<Analysis>();
      expect(statusesOf(events, up.analysis.id), worker.output).toEqual(['queued', 'processing', 'completed']);
      const progress = events.filter((e) => e.analysis_id === up.analysis.id).map((e) => e.progress);
      expect(progress).toEqual([...progress].sort((x, y) => x - y));
      expect(events.at(-1)).toMatchObject({ upload_id: up.id, status: 'completed', progress: 100 });
      expect(events.at(-1)!.summary).toMatchObject({ format: 'jpeg', width: 96, height: 64 });
      // Event ids increase; every event carries one.
      const ids = aliceStream.messages.map((m) => m.id!);
      expect(ids.every((id) => /^\d+-\d+$/.test(id))).toBe(true);
      expect(ids.slice(1).every((id, i) => compareEventIds(id, ids[i]) > 0)).toBe(true);

      // Each user only ever sees their own analyses.
      expect(new Set(events.map((e) => e.analysis_id))).toEqual(new Set([up.analysis.id]));
      expect(new Set(bobStream.analysis<Analysis>().map((e) => e.analysis_id))).toEqual(new Set([bobs.analysis.id]));
      expect(aliceStream.body).not.toContain(bobs.id);
      expect(bobStream.body).not.toContain(up.id);

      // Heartbeat (SSE_HEARTBEAT_SECONDS=1 here): comments that clients ignore.
      expect(aliceStream.comments).toContain('connected');
      await aliceStream.waitFor((r) => r.comments.includes('ping'), 5000, 'a heartbeat');
      lastSeen = ids.at(-1)!;
      aliceStream.close();
      bobStream.close();
    });

    it('reconnecting with Last-Event-ID replays what was missed (and only that), on either process', async () => {
      // While alice is away: a re-analysis runs from start to end.
      const items = (await json(await fetch(`${A}/api/uploads`, { headers: alice.auth }))).results as Array<{
        id: string;
      }>;
      const again = await fetch(`${A}/api/visual-analysis`, {
        method: 'POST',
        headers: { ...alice.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ upload_id: items[0].id }),
      });
      const missed = (await json(again)) as { id: string };
      expect(again.status).toBe(202);
      await waitFor(
        async () =>
          (await json(await fetch(`${B}/api/visual-analysis/${missed.id}`, { headers: alice.auth }))).status ===
          'completed',
        40_000,
        'the re-analysis',
      );

      for (const [base, resume] of [
        [A, { headers: { ...alice.auth, 'last-event-id': lastSeen }, query: '' }],
        [B, { headers: alice.auth, query: `?last_event_id=${lastSeen}` }],
      ] as const) {
        const stream = await SseReader.open(`${base}/api/visual-analysis/events${resume.query}`, resume.headers);
        await stream.waitFor(completedFor(missed.id), 10_000, 'the replay');
        const replayed = stream.analysis<Analysis>();
        expect(new Set(replayed.map((e) => e.analysis_id))).toEqual(new Set([missed.id]));
        expect(statusesOf(replayed, missed.id)).toEqual(['queued', 'processing', 'completed']);
        stream.close();
      }

      // An id older than the window (events trimmed or expired): a `resync` event says reload.
      const stale = await SseReader.open(`${B}/api/visual-analysis/events`, { ...alice.auth, 'last-event-id': '1-0' });
      const resync = await stale.waitFor((r) => r.messages.find((m) => m.event === 'resync'), 10_000, 'resync');
      expect(JSON.parse(resync.data)).toEqual({ detail: expect.any(String) });
      expect(stale.analysis()).toEqual([]);
      stale.close();

      const bad = await SseReader.open(`${B}/api/visual-analysis/events`, { ...alice.auth, 'last-event-id': 'nope' });
      expect(bad.status).toBe(400);
      await bad.waitFor((r) => r.ended, 5000, 'the 400 body');
      expect(JSON.parse(bad.body)).toEqual({ last_event_id: ['Not an event id of this stream.'] });
    });

    it('a ticket (issued on A) opens an EventSource on B once; used, expired or wrong-purpose tokens are refused', async () => {
      const ticket = await ticketOn(A, alice);
      const key = `${env.CACHE_NAMESPACE}:stream-ticket:${createHash('sha256').update(ticket).digest('hex')}`;
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(55_000);
      expect(ttl).toBeLessThanOrEqual(60_000);

      // A real EventSource client (WHATWG semantics): no headers, the ticket in the URL.
      const source = new EventSource(`${B}/api/visual-analysis/events?ticket=${ticket}`);
      const received: Analysis[] = [];
      source.addEventListener('analysis', (e) =>
        received.push({ ...(JSON.parse(e.data) as Analysis), event_id: e.lastEventId }),
      );
      try {
        await new Promise<void>((resolve, reject) => {
          source.onopen = () => resolve();
          source.onerror = (err) => reject(new Error(`EventSource error: ${err.message ?? err.code}`));
        });
        const up = await uploadOn(A, alice, '#33cc66');
        await waitFor(
          async () => received.some((e) => e.analysis_id === up.analysis.id && e.status === 'completed'),
          40_000,
          'EventSource: completed',
        );
        expect(statusesOf(received, up.analysis.id)).toEqual(['queued', 'processing', 'completed']);
        expect(received.every((e) => /^\d+-\d+$/.test(e.event_id))).toBe(true);
      } finally {
        source.close();
      }

      const status = async (url: string, headers: Record<string, string> = {}) => {
        const res = await fetch(url, { headers });
        const body = await res.text();
        return { status: res.status, body: body ? JSON.parse(body) : undefined };
      };
      // Spent: once only.
      expect(await status(`${A}/api/visual-analysis/events?ticket=${ticket}`)).toEqual({
        status: 401,
        body: { detail: 'Stream ticket is invalid, expired or already used.' },
      });
      // Expired: Redis drops it after 60 s (here: now).
      const late = await ticketOn(B, alice);
      await redis.pexpire(`${env.CACHE_NAMESPACE}:stream-ticket:${createHash('sha256').update(late).digest('hex')}`, 1);
      await new Promise((r) => setTimeout(r, 20));
      expect((await status(`${A}/api/visual-analysis/events?ticket=${late}`)).status).toBe(401);
      // Wrong purpose: an access token is not a ticket (nor accepted in the URL at all), a ticket is not a token.
      expect((await status(`${A}/api/visual-analysis/events?ticket=${alice.access}`)).status).toBe(401);
      expect((await status(`${A}/api/visual-analysis/events?access_token=${alice.access}`)).status).toBe(401);
      expect((await status(`${A}/api/visual-analysis/events?token=${alice.access}`)).status).toBe(401);
      const unused = await ticketOn(A, alice);
      expect((await status(`${A}/api/users/me`, { authorization: `Bearer ${unused}` })).status).toBe(401);
      expect((await status(`${A}/api/uploads?ticket=${unused}`)).status).toBe(401);
      expect((await fetch(`${A}/api/auth/stream-ticket`, { method: 'POST' })).status).toBe(401);
      // The ticket survived those attempts on other routes: it still opens the stream, once.
      const ok = await SseReader.open(`${B}/api/visual-analysis/events?ticket=${unused}`);
      expect(ok.status).toBe(200);
      ok.close();

      // Issuing is bounded: 30 tickets per user per minute, counted across processes (3 so far).
      for (let i = 0; i < 27; i++) await ticketOn(i % 2 ? A : B, alice);
      const over = await fetch(`${A}/api/auth/stream-ticket`, { method: 'POST', headers: alice.auth });
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await json(over)).toEqual({ detail: 'Too many stream tickets requested; retry later.' });
      expect((await fetch(`${A}/api/auth/stream-ticket`, { method: 'POST', headers: bob.auth })).status).toBe(200);
    });

    it('the per-user cap holds across processes (429 + DRF body) and frees a slot on close', async () => {
      const open = await Promise.all(
        [A, B, A].map((base) => SseReader.open(`${base}/api/visual-analysis/events`, alice.auth)),
      );
      expect(open.map((s) => s.status)).toEqual([200, 200, 200]);
      const fourth = await SseReader.open(`${B}/api/visual-analysis/events`, alice.auth);
      expect(fourth.status).toBe(429);
      expect(fourth.headers['retry-after']).toBe('5');
      await fourth.waitFor((r) => r.ended, 5000, 'the 429 body');
      expect(JSON.parse(fourth.body)).toEqual({
        detail: 'Too many open event streams (at most 3 per user); close one and retry.',
      });
      // Bob is not affected by alice's streams.
      const bobs = await SseReader.open(`${B}/api/visual-analysis/events`, bob.auth);
      expect(bobs.status).toBe(200);
      bobs.close();
      open[1].close();
      const fifth = await waitFor(
        async () => {
          const s = await SseReader.open(`${B}/api/visual-analysis/events`, alice.auth);
          if (s.status === 200) return s;
          s.close();
          return undefined;
        },
        5000,
        'the freed slot',
      );
      for (const s of [open[0], open[2], fifth]) s.close();
    });

    it('a reader that stops reading is dropped once its backlog passes the bound; the server does not hold the rest', async () => {
      const config = loadConfig(env);
      const eventsRedis = new EventsRedis(config);
      const bus = new RedisEventBus(eventsRedis, config);
      const user = await registerOn(B, 'slow');

      // A raw connection that reads the headers, then never reads again.
      const socket = connect(portB, '127.0.0.1');
      socket.write(
        `GET /api/visual-analysis/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${user.access}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      await new Promise<void>((resolve) => {
        let head = '';
        const onData = (d: Buffer) => {
          head += d.toString();
          if (head.includes(': connected')) {
            socket.off('data', onData);
            socket.pause();
            resolve();
          }
        };
        socket.on('data', onData);
      });
      // A second stream of the same user that keeps reading.
      const reader = await SseReader.open(`${B}/api/visual-analysis/events`, user.auth);

      const rssBefore = rssKb(apiB.child.pid!);
      const count = 30_000;
      const pad = 'x'.repeat(1000);
      for (let i = 0; i < count; i += 500) {
        const batch = Math.min(500, count - i);
        await Promise.all(
          Array.from({ length: batch }, (_, j) =>
            bus.publish(
              user.id,
              JSON.stringify({ analysis_id: `slow-${i + j}`, status: 'processing', progress: 1, pad }),
            ),
          ),
        );
        // Paced by the reading stream: a subscriber that falls 8 MB behind would be cut off by
        // Redis's pub/sub output-buffer limit (a loaded CI box), which is not what this measures.
        await reader.waitFor(
          (r) => r.messages.length >= i + batch,
          30_000,
          `the reading stream to get ${i + batch} events`,
        );
      }
      const published = count * (pad.length + 60);
      await reader.waitFor((r) => r.messages.length >= count, 60_000, 'the reading stream to get every event');
      const rssAfter = rssKb(apiB.child.pid!);
      reader.close();

      // Now read what the slow connection was sent: far less than was published, then the end.
      let received = 0;
      const ended = new Promise<void>((resolve) => {
        socket.on('end', resolve);
        socket.on('close', () => resolve());
      });
      socket.on('data', (d: Buffer) => (received += d.length));
      socket.resume();
      await Promise.race([
        ended,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`not dropped; ${received} bytes so far`)), 15_000),
        ),
      ]);
      console.log(
        `slow reader: ${(published / 1e6).toFixed(1)} MB published, ${(received / 1e6).toFixed(2)} MB delivered before the drop; API RSS ${Math.round(rssBefore / 1024)} → ${Math.round(rssAfter / 1024)} MB`,
      );
      expect(received).toBeLessThan(published / 4);
      // The API did not keep the undelivered ~30 MB for the dropped client.
      expect(rssAfter - rssBefore).toBeLessThan(published / 1024 / 2);
      expect(apiB.output).toMatch(/not reading its events/);
      eventsRedis.onApplicationShutdown();
    }, 120_000);

    it('a worker stopped (SIGTERM) mid-analysis finishes it and still publishes `completed`', async () => {
      const stream = await SseReader.open(`${A}/api/visual-analysis/events`, alice.auth);
      const up = await uploadOn(A, alice, '#123456', await noiseJpeg(3000, 2000));
      await stream.waitFor(
        (r) => r.analysis<Analysis>().some((e) => e.analysis_id === up.analysis.id && e.status === 'processing'),
        30_000,
        'processing',
      );
      const code = await worker.kill('SIGTERM');
      expect(code, worker.output).toBe(0);
      const row = await json(await fetch(`${A}/api/visual-analysis/${up.analysis.id}`, { headers: alice.auth }));
      expect(row.status).toBe('completed');
      await stream.waitFor(completedFor(up.analysis.id), 5000, 'the completed event');
      expect(worker.output).not.toMatch(/not published/);
      stream.close();
    }, 60_000);
  },
);
