import { parseArgs } from 'node:util';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigModule, type AppConfig } from '@echo/config';
import { DatabaseModule } from '@echo/database';
import { CacheModule } from '@echo/cache';
import { StorageModule } from '@echo/storage';
import { AccountDataModule, StorageAudit, type AuditFinding } from '@echo/account-data';
import { runMigrations } from './migrations.js';

export const AUDIT_STORAGE_USAGE = 'audit-storage [--fix] [--user N] [--json]';

/**
 * `audit-storage`: storage objects without a row and rows without their object, per user (local
 * disk or S3). `--fix` deletes the orphan objects and marks the broken rows (see StorageAudit);
 * `--user N` looks at one user only; `--json` prints the report as one JSON object. Exit code 0
 * when nothing is left to report, 1 otherwise.
 */
export async function auditStorage(config: AppConfig, argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      fix: { type: 'boolean', default: false },
      user: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const userId = values.user === undefined ? undefined : Number(values.user);
  if (userId !== undefined && !(Number.isSafeInteger(userId) && userId > 0))
    throw new Error(`--user must be a user id; usage: ${AUDIT_STORAGE_USAGE}`);
  if (config.embeddedDatabase) await runMigrations(config);

  @Module({
    imports: [
      ConfigModule.forRoot(config),
      DatabaseModule.forRoot(config),
      CacheModule.forRoot(config),
      StorageModule.forRoot(config),
      AccountDataModule.register(config, 'cli'),
    ],
  })
  class AuditModule {}

  const app = await NestFactory.createApplicationContext(AuditModule, { logger: ['error', 'warn'] });
  try {
    const perUser = new Map<string, Record<string, number>>();
    const print = (f: AuditFinding) => {
      const owner = f.userId === null ? 'no owner' : `user ${f.userId}`;
      const counts = perUser.get(owner) ?? {};
      counts[f.kind] = (counts[f.kind] ?? 0) + 1;
      perUser.set(owner, counts);
      if (!values.json) console.log(`${owner}\t${f.kind}\t${f.key}${f.uploadId ? `\tupload ${f.uploadId}` : ''}`);
    };
    const report = await app.get(StorageAudit).run({
      userId,
      fix: values.fix,
      onFinding: print,
      keepFindings: values.json ? Number.MAX_SAFE_INTEGER : 0,
    });
    if (values.json) console.log(JSON.stringify({ ...report, perUser: Object.fromEntries(perUser) }));
    else {
      for (const [owner, counts] of perUser)
        console.log(
          `${owner}: ${Object.entries(counts)
            .map(([kind, n]) => `${n} ${kind}`)
            .join(', ')}`,
        );
      console.log(
        `audit-storage: ${report.objectsScanned} objects and ${report.rowsChecked} rows checked in ${report.ms} ms; ` +
          `${report.orphanObjects} objects without a row, ${report.unknownObjects} of unknown shape, ` +
          `${report.rowsWithoutObject} rows without their object` +
          (values.fix ? `; fixed: ${report.fixed.deleted} objects deleted, ${report.fixed.marked} rows marked` : ''),
      );
    }
    const open = report.unknownObjects + (values.fix ? 0 : report.orphanObjects + report.rowsWithoutObject);
    if (open) process.exitCode = 1;
  } finally {
    await app.close();
  }
}
