export * from './drf-errors.js';
export * from './drf-exception.filter.js';
export * from './validation.js';
export * from './logging.js';
export * from './public.decorator.js';
export * from './bearer.js';
export * from './public-origin.js';
export * from './request-limits.js';
