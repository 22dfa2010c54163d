/** A Redis node address as the operator wrote it (`host:port`; IPv6 as `[addr]:port`). */
export interface RedisNode {
  host: string;
  port: number;
}

/** Credentials and TLS of the data nodes (Sentinel and Cluster; a single server takes them from its URL). */
export interface RedisAuth {
  username?: string;
  password?: string;
  tls: boolean;
}

/**
 * Where one Redis role (the queue's, or the cache's) lives:
 * - `single`: one server by URL (`redis://` or `rediss://`, credentials in the URL), logical db `db`;
 * - `sentinel`: the primary of the set `name` as the sentinels report it, db `db`;
 * - `cluster`: Redis Cluster from seed nodes (db 0 only: roles are separated by key prefix).
 */
export type RedisTopology =
  | { kind: 'single'; url: string; db: number }
  | ({ kind: 'sentinel'; sentinels: RedisNode[]; name: string; sentinelPassword?: string; db: number } & RedisAuth)
  | ({ kind: 'cluster'; nodes: RedisNode[] } & RedisAuth);

/**
 * `host:port,host:port` → nodes; undefined (with the reason) when an entry is malformed.
 * `[::1]:7000` for IPv6.
 */
export function parseNodes(value: string): { nodes: RedisNode[] } | { error: string } {
  const nodes: RedisNode[] = [];
  for (const [i, raw] of value.split(',').entries()) {
    const entry = raw.trim();
    if (!entry) continue;
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : 0;
    // The entry's position, not the entry: a `user:pass@host:port` pasted here must not reach the log.
    if (!match || port < 1 || port > 65535) return { error: `entry ${i + 1} is not host:port` };
    nodes.push({ host: match[1].replace(/^\[(.*)\]$/, '$1'), port });
  }
  if (!nodes.length) return { error: 'needs at least one host:port' };
  return { nodes };
}

/**
 * Keys that a multi-key script or transaction touches together must hash to one Cluster slot:
 * only the part inside the first `{…}` is hashed. On a single server or Sentinel this is a
 * plain part of the name.
 */
export function hashTag(tag: string | number): string {
  return `{${tag}}`;
}

/** A human description without credentials (logs, health). */
export function describeTopology(topology: RedisTopology): string {
  switch (topology.kind) {
    case 'single': {
      const url = new URL(topology.url);
      return `${url.protocol}//${url.host}/${topology.db}`;
    }
    case 'sentinel':
      return `sentinel ${topology.name} via ${topology.sentinels.map(nodeText).join(',')} db ${topology.db}`;
    case 'cluster':
      return `cluster via ${topology.nodes.map(nodeText).join(',')}`;
  }
}

const nodeText = (n: RedisNode) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`);
