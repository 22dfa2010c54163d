export * from './page-request.js';
export * from './paginate.js';
export * from './pagination.interceptor.js';
export * from './paginated.decorator.js';
export * from './page-query.dto.js';
export * from './page-cache.js';
export * from './page-body-cache.js';
export * from './sql-page.js';
