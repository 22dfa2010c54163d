import { describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { installReadRetry } from './connection-retry.js';
import { expectField, expectMethod, installedVersion, LibraryShapeError, typeormInternal } from './library-shape.js';
import { installReplicaRouting } from './replication.js';

/**
 * The prototype checks the patches make before installing: this fails when a typeorm upgrade
 * moves what connection-retry.ts / replication.ts wrap. The checks on live objects (runner
 * fields, mysql2 pool fields) run at every MySQL start-up; test/database-pool.test.ts covers them.
 */
describe('library internals Echo patches', () => {
  it('typeorm still has the methods connection-retry.ts and replication.ts wrap', () => {
    const { MysqlQueryRunner } = typeormInternal<{ MysqlQueryRunner: { prototype: Record<string, unknown> } }>(
      'driver/mysql/MysqlQueryRunner.js',
      'spec',
    );
    const original = MysqlQueryRunner.prototype.query;
    expect(() => installReadRetry()).not.toThrow();
    expect(MysqlQueryRunner.prototype.query).not.toBe(original); // wrapped

    const { MysqlDriver } = typeormInternal<{ MysqlDriver: { prototype: Record<string, unknown> } }>(
      'driver/mysql/MysqlDriver.js',
      'spec',
    );
    const before = MysqlDriver.prototype.obtainSlaveConnection;
    const dsBefore = (DataSource.prototype as unknown as Record<string, unknown>).defaultReplicationModeForReads;
    expect(() => installReplicaRouting()).not.toThrow();
    expect(MysqlDriver.prototype.obtainSlaveConnection).not.toBe(before);
    expect((DataSource.prototype as unknown as Record<string, unknown>).defaultReplicationModeForReads).not.toBe(
      dsBefore,
    );
  });

  it('reads the installed versions (named in every shape error)', () => {
    expect(installedVersion('typeorm')).toMatch(/^\d+\.\d+\.\d+/);
    expect(installedVersion('mysql2')).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a moved internal fails with the package, its version and the file to revisit', () => {
    const version = installedVersion('mysql2');
    expect(() => expectMethod('mysql2', {}, '_getNode', 'PoolCluster', 'libs/database/src/replication.ts')).toThrow(
      LibraryShapeError,
    );
    expect(() => expectMethod('mysql2', {}, '_getNode', 'PoolCluster', 'libs/database/src/replication.ts')).toThrow(
      `mysql2 ${version}: PoolCluster._getNode is not a function. Echo's libs/database/src/replication.ts depends on it`,
    );
    expect(() =>
      expectField('mysql2', { _freeConnections: 3 }, '_freeConnections', 'Pool', 'f', (v) => Array.isArray(v)),
    ).toThrow(/Pool._freeConnections is missing or changed shape/);
    expect(() => typeormInternal('driver/mysql/NoSuchRunner.js', 'f')).toThrow(
      /typeorm \d+\.\d+\.\d+: no module typeorm\/driver\/mysql\/NoSuchRunner.js/,
    );
  });
});
