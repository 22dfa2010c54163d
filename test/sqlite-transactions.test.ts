import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { transactional } from '@echo/database';

/**
 * TypeORM's better-sqlite3 driver runs every transaction of a DataSource on one connection: two at
 * once nest as savepoints and share their fate. `transactional` queues them per DataSource.
 */
describe('transactional on SQLite (one connection)', () => {
  let ds: DataSource;
  beforeAll(async () => {
    ds = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    await ds.initialize();
    await ds.query('CREATE TABLE t (name TEXT NOT NULL)');
  });
  afterAll(() => ds?.destroy());

  const names = async () => (await ds.query('SELECT name FROM t ORDER BY name')).map((r: { name: string }) => r.name);

  it('a rollback undoes only its own writes, with another transaction running meanwhile', async () => {
    const failing = transactional(ds, async (em) => {
      await em.query("INSERT INTO t (name) VALUES ('doomed')");
      await sleep(40);
      throw new Error('rolled back');
    });
    await sleep(5);
    const kept = transactional(ds, (em) => em.query("INSERT INTO t (name) VALUES ('kept-1')"));
    await expect(failing).rejects.toThrow('rolled back');
    await kept;
    expect(await names()).toEqual(['kept-1']);
  });

  it('work a transaction started without awaiting it queues once that transaction has ended', async () => {
    let late: Promise<unknown> | undefined;
    await transactional(ds, async () => {
      // Inherits the transaction's async context, but runs after it has committed.
      late = new Promise((resolve) =>
        setTimeout(() => resolve(transactional(ds, (em) => em.query("INSERT INTO t (name) VALUES ('kept-2')"))), 20),
      );
    });
    // Another transaction is open (and will roll back) when the late one starts: had the late one
    // joined it as "the same transaction", the rollback would take its row too.
    const failing = transactional(ds, async (em) => {
      await em.query("INSERT INTO t (name) VALUES ('doomed-2')");
      await sleep(60);
      throw new Error('rolled back');
    });
    await expect(failing).rejects.toThrow('rolled back');
    await late;
    expect(await names()).toEqual(['kept-1', 'kept-2']);
  });
});
