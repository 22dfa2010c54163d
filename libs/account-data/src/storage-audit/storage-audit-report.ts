import { Injectable, Logger } from '@nestjs/common';
import { storageAuditFindings, storageAuditLastRun } from '@echo/metrics';
import { StorageAudit, type AuditReport } from './storage-audit.js';

/** Findings named in the log line; the full list is the CLI's (`npm run cli -- audit-storage`). */
const LOGGED = 10;

/**
 * The scheduled audit: reports, never repairs (an unattended job deleting files on a misjudgement
 * would be worse than the orphan). Findings go to the log and to the echo_storage_audit_findings
 * gauge; `audit-storage --fix` is the operator's decision.
 */
@Injectable()
export class StorageAuditReport {
  private readonly logger = new Logger('StorageAudit');

  constructor(private readonly audit: StorageAudit) {}

  async run(): Promise<Omit<AuditReport, 'findings'>> {
    const { findings, ...report } = await this.audit.run({ keepFindings: LOGGED });
    storageAuditFindings.set({ kind: 'orphan_objects' }, report.orphanObjects);
    storageAuditFindings.set({ kind: 'unknown_objects' }, report.unknownObjects);
    storageAuditFindings.set({ kind: 'rows_without_object' }, report.rowsWithoutObject);
    storageAuditLastRun.set(Date.now() / 1000);
    const counts =
      `${report.orphanObjects} objects without a row, ${report.unknownObjects} of unknown shape, ` +
      `${report.rowsWithoutObject} rows without their object (${report.objectsScanned} objects, ${report.rowsChecked} rows, ${report.ms} ms)`;
    if (findings.length)
      this.logger.warn(
        `${counts}; e.g. ${findings.map((f) => `${f.kind} ${f.key}`).join(', ')}. Repair: npm run cli -- audit-storage --fix`,
      );
    else this.logger.log(counts);
    return report;
  }
}
