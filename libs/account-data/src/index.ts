export * from './account-data.module.js';
export { DataExport } from './export/export.entity.js';
