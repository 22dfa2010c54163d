export * from './user.entity.js';
export * from './user.response.js';
export * from './users.module.js';
export * from './users.service.js';
export * from './auth/auth.decorator.js';
export * from './auth/auth-user.js';
export * from './auth/refresh-token.entity.js';
export { TokenService } from './auth/token.service.js';
