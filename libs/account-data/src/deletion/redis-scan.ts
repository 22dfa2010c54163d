import type { Cluster, Redis } from 'ioredis';
import { isCluster } from '@echo/redis';

/** Keys matching a SCAN pattern, in batches; in a Cluster on every primary (each holds its own slots). */
export async function* scanKeys(client: Redis | Cluster, match: string, count = 1000): AsyncGenerator<string[]> {
  const nodes = isCluster(client) ? client.nodes('master') : [client];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', count);
      cursor = next;
      if (keys.length) yield keys;
    } while (cursor !== '0');
  }
}

/** A literal for a SCAN pattern (glob characters escaped). */
export const globLiteral = (text: string) => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/** Deletes keys one by one: in a Cluster they may live in different slots. */
export async function deleteKeys(client: Redis | Cluster, keys: readonly string[]): Promise<number> {
  let removed = 0;
  for (const key of keys) removed += await client.del(key);
  return removed;
}
