import { createSecretKey } from 'node:crypto';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { ThrottlerModule, ThrottlerStorageService } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '@echo/config';
import { User } from './user.entity.js';
import { RefreshToken } from './auth/refresh-token.entity.js';
import { UsersService } from './users.service.js';
import { UsersRepository } from './users.repository.js';
import { PasswordHasher } from './auth/password-hasher.js';
import { TokenService } from './auth/token.service.js';
import { RefreshTokensRepository } from './auth/refresh-tokens.repository.js';
import { AuthService } from './auth/auth.service.js';
import { AuthGuard } from './auth/auth.guard.js';
import { Authenticator } from './auth/authenticator.js';
import { AuthController } from './auth/auth.controller.js';
import { SessionController } from './auth/session.controller.js';
import { UsersController } from './users.controller.js';
import { AdminUsersController } from './admin-users.controller.js';
import { RedisThrottlerStorage } from './throttling/redis-throttler.storage.js';
import { accountTracker, AuthThrottleGuard } from './throttling/auth-throttle.guard.js';

/** What other modules use (account deletion: the repository and the hasher too). */
const EXPORTS = [UsersService, UsersRepository, PasswordHasher, TokenService, Authenticator, TypeOrmModule];

/** Accounts, auth (JWT access + rotating refresh tokens), profiles and admin user management. */
@Module({})
export class UsersModule {
  /** `http: false` for processes without routes (worker, CLI): entities and services only. */
  static register(config: AppConfig, options: { http?: boolean } = {}): DynamicModule {
    const http = options.http ?? true;
    const core = {
      imports: [
        TypeOrmModule.forFeature([User, RefreshToken]),
        // A KeyObject, made once: given a string, jsonwebtoken tries createPublicKey() on it (and
        // catches the throw) on every sign and verify. Costs: docs/design.md, Auth.
        JwtModule.register({
          secret: createSecretKey(Buffer.from(config.auth.jwtSecret, 'utf8')),
          signOptions: { algorithm: 'HS256' },
          verifyOptions: { algorithms: ['HS256'] },
        }),
      ],
      providers: [
        UsersService,
        UsersRepository,
        RefreshTokensRepository,
        PasswordHasher,
        TokenService,
        AuthService,
        Authenticator,
      ],
    };
    if (!http) return { module: UsersModule, ...core, exports: [...EXPORTS] };
    return {
      module: UsersModule,
      imports: [
        ...core.imports,
        ThrottlerModule.forRoot({
          throttlers: [
            { name: 'ip', ttl: config.auth.throttleTtlMs, limit: config.auth.throttleLimit * 3 },
            {
              name: 'account',
              ttl: config.auth.throttleTtlMs,
              limit: config.auth.throttleLimit,
              getTracker: accountTracker,
            },
          ],
          storage: config.redis.cache ? new RedisThrottlerStorage(config) : new ThrottlerStorageService(),
        }),
      ],
      controllers: [AuthController, SessionController, UsersController, AdminUsersController],
      providers: [...core.providers, AuthThrottleGuard, { provide: APP_GUARD, useClass: AuthGuard }],
      exports: [...EXPORTS],
    };
  }
}
