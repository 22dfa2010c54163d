export * from './cache.module.js';
export * from './cache.service.js';
