export * from './admin-stats.module.js';
export * from './admin-stats.service.js';
export * from './admin-stats.response.js';
export { STATS_SQL } from './admin-stats.repository.js';
