export * from './account-data.module.js';
export { AccountPurge, nothingDone, type PurgeReport } from './deletion/account-purge.js';
export { PurgeQueue } from './deletion/purge-queue.js';
export { PURGE_MARGIN_MS, purgeJobId } from './deletion/purge-timing.js';
export { cacheKeyOfUser } from './deletion/purge-redis-keys.js';
export { StorageAudit, MISSING_ORIGINAL, type AuditFinding, type AuditReport } from './storage-audit/storage-audit.js';
export { DataExport } from './export/export.entity.js';
