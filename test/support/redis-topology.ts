import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { askRedis, freePort } from './processes.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * Real Redis topologies for the failover drills (issue 21 §2): a Sentinel-managed primary/replica
 * set and a 6-node Cluster, each on free private ports in its own temp dir, nothing on disk beyond
 * the config files the servers themselves rewrite. Failure detection is set low (1 s) so a SIGKILLed
 * primary is replaced within a few seconds.
 */

export const HOST = '127.0.0.1';

/** One short-lived connection to a node: undefined when it does not answer (dead, or mid-failover). */
export function ask<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T | undefined> {
  return askRedis(port, fn, { commandTimeout: 1000 });
}

/** Parses `INFO <section>` into a map. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** One redis-server process (data node or sentinel). */
export class RedisNode {
  private child?: ChildProcess;
  output = '';
  constructor(
    readonly port: number,
    private readonly args: string[],
  ) {}

  get address(): string {
    return `${HOST}:${this.port}`;
  }

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-10_000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.child = child;
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server ${this.port} exited: ${this.output}`);
        return (await ask(this.port, (r) => r.ping())) === 'PONG';
      },
      10_000,
      `redis-server on ${this.port}`,
    );
  }

  /** SIGKILL (the drill's fault) or SIGTERM (cleanup); resolves once the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
}

/** Data-node flags shared by both topologies: nothing persisted, BullMQ's eviction policy. */
const dataArgs = (port: number, dir: string) => [
  '--port',
  String(port),
  '--bind',
  HOST,
  '--protected-mode',
  'no',
  '--dir',
  dir,
  '--save',
  '',
  '--appendonly',
  'no',
  '--maxmemory-policy',
  'noeviction',
];

/**
 * A Sentinel set: one primary, one replica, three sentinels (quorum 2), down-after 1 s.
 */
export class SentinelSet {
  readonly name = 'echo-drill';
  private constructor(
    readonly dir: string,
    readonly data: RedisNode[],
    readonly sentinels: RedisNode[],
  ) {}

  static async start(): Promise<SentinelSet> {
    const dir = mkdtempSync(join(tmpdir(), 'echo-sentinel-'));
    const [p1, p2] = [await freePort(), await freePort()];
    const primary = new RedisNode(p1, dataArgs(p1, dir));
    const replica = new RedisNode(p2, [...dataArgs(p2, dir), '--replicaof', HOST, String(p1)]);
    const sentinels: RedisNode[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      // Sentinels rewrite their own config file (discovered replicas, epochs): one per sentinel.
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          'protected-mode no',
          `dir ${dir}`,
          `sentinel monitor echo-drill ${HOST} ${p1} 2`,
          'sentinel down-after-milliseconds echo-drill 1000',
          'sentinel failover-timeout echo-drill 5000',
          'sentinel parallel-syncs echo-drill 1',
          '',
        ].join('\n'),
      );
      sentinels.push(new RedisNode(port, [conf, '--sentinel']));
    }
    const set = new SentinelSet(dir, [primary, replica], sentinels);
    try {
      await primary.start();
      await replica.start();
      await waitFor(
        async () => parseInfo((await ask(p2, (r) => r.info('replication'))) ?? '').master_link_status === 'up',
        10_000,
        'the replica to sync',
      );
      for (const s of sentinels) await s.start();
      // Ready when every sentinel knows the replica and its two peers (so a quorum can form).
      await waitFor(
        async () => {
          for (const s of sentinels) {
            const master = await ask(s.port, (r) => r.call('SENTINEL', 'MASTER', 'echo-drill') as Promise<string[]>);
            if (!master) return false;
            const fields = Object.fromEntries(
              master.map((v, i, a) => (i % 2 ? [] : [v, a[i + 1]])).filter((x) => x.length),
            );
            if (fields['num-slaves'] !== '1' || fields['num-other-sentinels'] !== '2') return false;
          }
          return true;
        },
        15_000,
        'the sentinels to discover the replica and each other',
      );
    } catch (err) {
      await set.stop();
      throw err;
    }
    return set;
  }

  /** `REDIS_SENTINELS` for Echo. */
  get sentinelsEnv(): string {
    return this.sentinels.map((s) => s.address).join(',');
  }

  /** The port the sentinels currently name as primary (a majority of the answering ones). */
  async primaryPort(): Promise<number | undefined> {
    const votes = new Map<number, number>();
    for (const s of this.sentinels) {
      const addr = await ask(
        s.port,
        (r) => r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name) as Promise<[string, string] | null>,
      );
      if (addr) votes.set(Number(addr[1]), (votes.get(Number(addr[1])) ?? 0) + 1);
    }
    const [best] = [...votes.entries()].sort((a, b) => b[1] - a[1]);
    return best && best[1] >= 2 ? best[0] : undefined;
  }

  /** SIGKILLs the current primary; its port. */
  async killPrimary(): Promise<number> {
    const port = await this.primaryPort();
    const node = this.data.find((n) => n.port === port);
    if (!node) throw new Error(`no primary to kill (sentinels say ${port})`);
    await node.kill('SIGKILL');
    return port!;
  }

  /** Waits until the sentinels name another node and that node says it is a master. */
  async waitForNewPrimary(oldPort: number, timeoutMs = 20_000): Promise<number> {
    return waitFor(
      async () => {
        const port = await this.primaryPort();
        if (!port || port === oldPort) return undefined;
        const role = parseInfo((await ask(port, (r) => r.info('replication'))) ?? '').role;
        return role === 'master' ? port : undefined;
      },
      timeoutMs,
      'the sentinels to promote the replica',
    );
  }

  async stop(): Promise<void> {
    for (const node of [...this.sentinels, ...this.data]) await node.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A free port whose cluster bus port (port + 10000) is free as well. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = await freePort();
    if (port + 10_000 > 65_535 || taken.has(port) || taken.has(port + 10_000)) continue;
    const bus = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port + 10_000, HOST, () => s.close(() => resolve(true)));
    });
    if (bus) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
  throw new Error('no free port pair for a cluster node');
}

export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'slave';
  masterId: string | null;
  failed: boolean;
  slots: string[];
}

/** `CLUSTER NODES` parsed. */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, addr, flags, master, , , , , ...slots] = line.trim().split(' ');
      return {
        id,
        port: Number(addr.split('@')[0].split(':')[1]),
        role: flags.includes('master') ? 'master' : 'slave',
        masterId: master === '-' ? null : master,
        // `fail?` (one node suspects) counts too: a drill must not pick a node that may be gone.
        failed: flags.split(',').some((f) => f === 'fail' || f === 'fail?'),
        slots,
      } as ClusterNodeInfo;
    });
}

/**
 * A Redis Cluster: three primaries and three replicas, `cluster-node-timeout` 1 s.
 */
export class ClusterSet {
  private constructor(
    readonly dir: string,
    readonly nodes: RedisNode[],
  ) {}

  static async start(): Promise<ClusterSet> {
    const dir = mkdtempSync(join(tmpdir(), 'echo-cluster-'));
    const taken = new Set<number>();
    const nodes: RedisNode[] = [];
    for (let i = 0; i < 6; i++) {
      const port = await freeClusterPort(taken);
      nodes.push(
        new RedisNode(port, [
          ...dataArgs(port, dir),
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '1000',
        ]),
      );
    }
    const set = new ClusterSet(dir, nodes);
    try {
      await Promise.all(nodes.map((n) => n.start()));
      await run(
        'redis-cli',
        ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '1', '--cluster-yes'],
        {
          timeout: 30_000,
        },
      );
      await set.waitForOk();
      // Every replica attached and synced, so a killed primary has someone to take over.
      await waitFor(
        async () => {
          const view = await set.view();
          const replicas = view?.filter((n) => n.role === 'slave') ?? [];
          if (replicas.length !== 3) return false;
          for (const r of replicas) {
            const info = parseInfo((await ask(r.port, (c) => c.info('replication'))) ?? '');
            if (info.master_link_status !== 'up') return false;
          }
          return true;
        },
        20_000,
        'the cluster replicas to sync',
      );
    } catch (err) {
      await set.stop();
      throw err;
    }
    return set;
  }

  /** `REDIS_CLUSTER_NODES` for Echo (all six as seeds). */
  get nodesEnv(): string {
    return this.nodes.map((n) => n.address).join(',');
  }

  /** The cluster as one live node sees it. */
  async view(): Promise<ClusterNodeInfo[] | undefined> {
    for (const n of this.nodes) {
      if (!n.alive) continue;
      const text = await ask(n.port, (r) => r.call('CLUSTER', 'NODES') as Promise<string>);
      if (text) return parseClusterNodes(text);
    }
    return undefined;
  }

  /** Every live node reports `cluster_state:ok` (all 16384 slots served). */
  async waitForOk(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        for (const n of this.nodes.filter((x) => x.alive)) {
          const info = parseInfo((await ask(n.port, (r) => r.call('CLUSTER', 'INFO') as Promise<string>)) ?? '');
          if (info.cluster_state !== 'ok') return false;
        }
        return true;
      },
      timeoutMs,
      'cluster_state:ok on every node',
    );
  }

  /** The ports of the nodes serving slots as primaries now. */
  async primaryPorts(): Promise<number[]> {
    const view = (await this.view()) ?? [];
    return view.filter((n) => n.role === 'master' && !n.failed && n.slots.length > 0).map((n) => n.port);
  }

  /** SIGKILLs a primary (the one on `port` when given, else the first); its port and its replica's. */
  async killPrimary(port?: number): Promise<{ killed: number; replica: number }> {
    const view = (await this.view()) ?? [];
    const primary = view.find((n) => (port ? n.port === port : n.role === 'master' && n.slots.length > 0));
    const replica = view.find((n) => n.masterId === primary?.id);
    if (!primary || !replica) throw new Error('no primary with a replica to kill');
    await this.nodes.find((n) => n.port === primary.port)!.kill('SIGKILL');
    return { killed: primary.port, replica: replica.port };
  }

  /** Waits until `replica` serves slots as a primary and the cluster is ok again. */
  async waitForPromotion(replica: number, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        const info = parseInfo((await ask(replica, (r) => r.info('replication'))) ?? '');
        return info.role === 'master';
      },
      timeoutMs,
      `replica ${replica} to be promoted`,
    );
    await this.waitForOk(timeoutMs);
  }

  /** A key's hash slot, as a live node computes it. */
  async slotOf(key: string): Promise<number | undefined> {
    const node = this.nodes.find((n) => n.alive)!;
    return ask(node.port, (r) => r.call('CLUSTER', 'KEYSLOT', key) as Promise<number>);
  }

  /** The primary (port) serving a slot, as a live node says. */
  async portForSlot(slot: number): Promise<number | undefined> {
    const view = (await this.view()) ?? [];
    return view.find(
      (n) =>
        n.role === 'master' &&
        n.slots.some((range) => {
          const [a, b] = range.split('-').map(Number);
          return slot >= a && slot <= (b ?? a);
        }),
    )?.port;
  }

  /** The primary (port) that serves a key's slot. */
  async portForKey(key: string): Promise<number | undefined> {
    const slot = await this.slotOf(key);
    return slot === undefined ? undefined : this.portForSlot(slot);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether the machine has the servers the drills need (CI installs them; see .ci/run). */
export async function redisBinariesAvailable(): Promise<boolean> {
  try {
    await run('redis-server', ['--version']);
    await run('redis-cli', ['--version']);
    return true;
  } catch {
    return false;
  }
}
