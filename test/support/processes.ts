import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { REDIS_URL } from './services.js';
import { waitFor } from './wait.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server of the test's own (destructive drills never touch the shared one). */
export class PrivateRedis {
  private child?: ChildProcess;
  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        return (await this.command((r) => r.ping())) === 'PONG';
      },
      10_000,
      `redis-server on ${this.port}`,
    );
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Runs one command on a short-lived connection to the given db. */
  command<T>(fn: (redis: Redis) => Promise<T>, db = 0): Promise<T | undefined> {
    return askRedis(this.port, fn, { db, connectTimeout: 300 });
  }
}

export const distBuilt = (app: 'api' | 'worker' | 'cli') => existsSync(`dist/apps/${app}/src/main.js`);

/** A built Echo app (dist/) in its own process, with output kept for failure messages. */
export class EchoProcess {
  output = '';
  private constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-20_000)));
    child.stderr?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-20_000)));
  }

  static spawn(app: 'api' | 'worker' | 'cli', env: Record<string, string>, args: string[] = []): EchoProcess {
    const child = spawn(process.execPath, [`dist/apps/${app}/src/main.js`, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new EchoProcess(child);
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (this.exited) return this.child.exitCode;
    const done = new Promise<number | null>((resolve) =>
      this.child.once('exit', (code, sig) => {
        if (sig) this.output += `\n[killed by ${sig}]`;
        resolve(code);
      }),
    );
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await done;
    clearTimeout(timer);
    return code;
  }
}

/** The environment of built Echo processes on a test database, with private cache/queue prefixes. */
export function builtEnv(
  databaseUrl: string,
  prefix: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    CACHE_NAMESPACE: prefix,
    QUEUE_PREFIX: prefix,
    STORAGE_DIR: `.data/test-storage/${prefix}`,
    HOST: '127.0.0.1',
    WORKER_METRICS_PORT: '0',
    ...extra,
  };
}

/** `migration:run` through the built CLI; fails the test with its output otherwise. */
export async function migrateBuilt(env: Record<string, string>): Promise<void> {
  const migrate = EchoProcess.spawn('cli', env, ['migration:run']);
  const code = await new Promise<number | null>((resolve) => migrate.child.once('exit', resolve));
  expect(code, migrate.output).toBe(0);
}

/** One short-lived connection to a Redis on 127.0.0.1: undefined when it does not answer (dead, or mid-failover). */
export async function askRedis<T>(
  port: number,
  fn: (redis: Redis) => Promise<T>,
  options: { db?: number; connectTimeout?: number; commandTimeout?: number } = {},
): Promise<T | undefined> {
  const redis = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    connectTimeout: 500,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    ...options,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await fn(redis);
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}
