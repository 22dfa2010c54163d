export * from './queue.constants.js';
export * from './queue.module.js';
export * from './queue.health.js';
export * from './queue-errors.js';
