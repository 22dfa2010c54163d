import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';

const run = promisify(execFile);

/** Where mariadbd lives (root's PATH has /usr/sbin, a user's often not). */
export function findBinary(name: string): string | undefined {
  for (const dir of [
    ...(process.env.PATH ?? '').split(':'),
    '/usr/sbin',
    '/usr/bin',
    '/usr/local/sbin',
    '/usr/local/bin',
  ]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export const mariadbInstalled = () => Boolean(findBinary('mariadbd') && findBinary('mariadb-install-db'));

export interface Server {
  name: 'primary' | 'replica';
  port: number;
  /** root, no password, no database */
  url: string;
  process?: ChildProcess;
}

export interface MariadbPair {
  primary: Server;
  replica: Server;
  /** ms from nothing to two servers replicating */
  startupMs: number;
  /** A short-lived root connection to one server. */
  sql<T = unknown>(server: Server, query: string, params?: unknown[]): Promise<T[]>;
  /** Waits until the replica has applied everything the primary has written so far. */
  sync(timeoutMs?: number): Promise<void>;
  /** The replica's `Com_select` counter: how many SELECTs it has served. */
  replicaSelects(): Promise<number>;
  stopReplicaSql(): Promise<void>;
  startReplicaSql(): Promise<void>;
  /** SIGKILL: a crash, its clients' connections drop at once. */
  killReplica(): Promise<void>;
  /** Starts the killed replica again on the same port and data (it resumes replicating). */
  restartReplica(): Promise<void>;
  stop(): Promise<void>;
}

const REPL_USER = 'repl';
const REPL_PASSWORD = 'repl-pass';

/**
 * Two private mariadbd instances on free ports in a temp directory: a primary with a binlog, and
 * a GTID replica of it (read_only). Everything is bounded in time and fails with the server's
 * error log attached.
 */
export async function startMariadbPair(): Promise<MariadbPair> {
  const mariadbd = findBinary('mariadbd');
  const installDb = findBinary('mariadb-install-db');
  if (!mariadbd || !installDb)
    throw new Error('mariadbd / mariadb-install-db not found (apt-get install mariadb-server)');
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'echo-pair-'));
  const [primaryPort, replicaPort] = await freePorts(2);
  const primary: Server = { name: 'primary', port: primaryPort, url: `mysql://root@127.0.0.1:${primaryPort}` };
  const replica: Server = { name: 'replica', port: replicaPort, url: `mysql://root@127.0.0.1:${replicaPort}` };
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  // Small InnoDB files and no fsync per commit: a fast start, and durability does not matter here.
  const common = [
    ...asRoot,
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=8M',
    '--innodb-flush-log-at-trx-commit=0',
    '--sync-binlog=0',
  ];
  const datadir = (s: Server) => join(dir, s.name);
  // Each its own tmpdir: two bootstraps sharing /tmp collide on temp table names (ERROR 1051).
  const tmp = (s: Server) => join(dir, `${s.name}-tmp`);
  const errLog = (s: Server) => join(dir, `${s.name}.err`);
  const serverArgs = (s: Server, id: number, extra: string[]) => [
    '--no-defaults',
    ...common,
    `--datadir=${datadir(s)}`,
    `--tmpdir=${tmp(s)}`,
    `--port=${s.port}`,
    `--socket=${join(dir, `${s.name}.sock`)}`,
    `--pid-file=${join(dir, `${s.name}.pid`)}`,
    `--log-error=${errLog(s)}`,
    '--bind-address=127.0.0.1',
    '--skip-name-resolve',
    `--server-id=${id}`,
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
    ...extra,
  ];
  const args = {
    primary: serverArgs(primary, 1, ['--log-bin=primary-bin', '--binlog-format=ROW']),
    // A SIGKILLed replica can apply the last DDL again on restart (MariaDB records a DDL's GTID
    // position after the DDL itself): skip "duplicate column/key name" from that replay.
    replica: serverArgs(replica, 2, [
      '--relay-log=replica-relay-bin',
      '--read-only=ON',
      '--slave-skip-errors=1060,1061',
    ]),
  };

  const launch = async (s: Server) => {
    s.process = spawn(mariadbd, args[s.name], { stdio: 'ignore' });
    exitHooks.add(s.process);
    s.process.once('exit', () => exitHooks.delete(s.process!));
    await waitForServer(s, errLog(s));
  };

  const servers = [primary, replica];
  const stop = async () => {
    await Promise.all(servers.map((s) => terminate(s.process)));
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await settleAll(
      servers.map(async (s) => {
        await mkdir(tmp(s));
        const installArgs = [
          '--no-defaults',
          ...asRoot,
          `--datadir=${datadir(s)}`,
          `--tmpdir=${tmp(s)}`,
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
          '--innodb-log-file-size=8M',
        ];
        await run(installDb, installArgs, { timeout: 60_000 }).catch(
          (err: Error & { stdout?: string; stderr?: string }) => {
            const output = `${err.stderr ?? ''}\n${err.stdout ?? ''}`.trim().split('\n').slice(-15).join('\n');
            throw new Error(`mariadb-install-db for the ${s.name} failed: ${err.message.split('\n')[0]}\n${output}`);
          },
        );
      }),
    );
    await settleAll(servers.map(launch));

    await query(primary, `CREATE USER '${REPL_USER}'@'127.0.0.1' IDENTIFIED BY '${REPL_PASSWORD}'`);
    await query(primary, `GRANT REPLICATION SLAVE ON *.* TO '${REPL_USER}'@'127.0.0.1'`);
    await query(
      replica,
      `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='${REPL_USER}', ` +
        `MASTER_PASSWORD='${REPL_PASSWORD}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
    );
    await query(replica, 'START SLAVE');
    await waitForReplication(replica, 20_000);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }

  const pair: MariadbPair = {
    primary,
    replica,
    startupMs: Date.now() - started,
    sql: (server, sql, params) => query(server, sql, params),
    sync: async (timeoutMs = 10_000) => {
      const [{ pos }] = await query<{ pos: string }>(primary, 'SELECT @@gtid_binlog_pos AS pos');
      const [{ ok }] = await query<{ ok: number }>(replica, 'SELECT MASTER_GTID_WAIT(?, ?) AS ok', [
        pos,
        timeoutMs / 1000,
      ]);
      if (Number(ok) !== 0)
        throw new Error(
          `replica did not reach the primary's GTID ${pos} within ${timeoutMs} ms: ${await replicationState(replica)}`,
        );
    },
    replicaSelects: async () => {
      const [row] = await query<{ Value: string }>(replica, "SHOW GLOBAL STATUS LIKE 'Com_select'");
      return Number(row.Value);
    },
    stopReplicaSql: async () => {
      await query(replica, 'STOP SLAVE SQL_THREAD');
    },
    startReplicaSql: async () => {
      await query(replica, 'START SLAVE SQL_THREAD');
      await waitForReplication(replica, 10_000);
    },
    killReplica: async () => {
      const child = replica.process;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await withTimeout(exited, 5_000, 'the replica to die after SIGKILL');
    },
    restartReplica: async () => {
      await launch(replica);
      // The replica keeps its master settings (master.info), but a server started without
      // --skip-slave-start starts the threads itself; START SLAVE is harmless if they run.
      await query(replica, 'START SLAVE');
      await waitForReplication(replica, 20_000);
    },
    stop,
  };
  return pair;
}

// --- helpers ---

/** Like Promise.all, but waits for every one (nothing may still write into a directory being removed). */
async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Safety net: a crashed test run must not leave servers behind. */
const exitHooks = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of exitHooks) child.kill('SIGKILL');
});

async function query<T = unknown>(server: Server, sql: string, params: unknown[] = []): Promise<T[]> {
  const conn = await mysql.createConnection({
    host: '127.0.0.1',
    port: server.port,
    user: 'root',
    connectTimeout: 2_000,
  });
  try {
    const [rows] = await conn.query(sql, params);
    return rows as T[];
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const srv = createServer();
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((srv) => (srv.address() as { port: number }).port);
  await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(resolve))));
  return ports;
}

async function waitForServer(server: Server, errLog: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const child = server.process;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(
        `mariadbd (${server.name}) exited (${child.exitCode ?? child.signalCode}):\n${await tail(errLog)}`,
      );
    }
    try {
      await query(server, 'SELECT 1');
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(
    `mariadbd (${server.name}) did not accept connections on port ${server.port} within ${timeoutMs} ms (${(last as Error)?.message}):\n${await tail(errLog)}`,
  );
}

interface SlaveStatus {
  Slave_IO_Running: string;
  Slave_SQL_Running: string;
  Last_IO_Error: string;
  Last_SQL_Error: string;
}

async function replicationState(replica: Server): Promise<string> {
  const [status] = await query<SlaveStatus>(replica, 'SHOW SLAVE STATUS');
  if (!status) return 'no replication configured';
  return `IO ${status.Slave_IO_Running}, SQL ${status.Slave_SQL_Running}${status.Last_IO_Error ? `, IO error: ${status.Last_IO_Error}` : ''}${status.Last_SQL_Error ? `, SQL error: ${status.Last_SQL_Error}` : ''}`;
}

async function waitForReplication(replica: Server, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [status] = await query<SlaveStatus>(replica, 'SHOW SLAVE STATUS');
    if (status?.Slave_IO_Running === 'Yes' && status.Slave_SQL_Running === 'Yes') return;
    if (Date.now() > deadline)
      throw new Error(`replication did not start within ${timeoutMs} ms: ${await replicationState(replica)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  try {
    await withTimeout(exited, 15_000, 'mariadbd to shut down');
  } catch {
    child.kill('SIGKILL');
    await withTimeout(exited, 5_000, 'mariadbd to die').catch(() => undefined);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>(
        (_, reject) =>
          (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no error log)';
  }
}
