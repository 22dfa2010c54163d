export * from './audit-context.js';
export * from './audit-writer.js';
export { AuditLogModule } from './audit-log.module.js';
export { AuditLogService } from './audit-log.service.js';
export { AuditEntryResponse } from './audit-entry.response.js';
export * from './audit-retention.js';
