import {
  Injectable,
  Logger,
  UnauthorizedException,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { catchError, from, mergeMap, throwError, type Observable } from 'rxjs';
import { DataSource } from 'typeorm';
import { auditContextOf, recordAudit } from '@echo/audit-log';
import { transactional } from '@echo/database';
import { UsersService } from '../users.service.js';

/**
 * On a sign-in route: a refused sign-in (401) naming an admin account is written to the audit log
 * as admin.sign_in_failed, in its own small transaction (there is no change to share one with).
 * Failures of ordinary accounts are not recorded (the log is about admin power). The 401 goes out
 * unchanged; a failure to record is logged, never turned into another answer. Also on
 * POST /api/users/me/restore (AccountDataModule), which checks the same password.
 */
@Injectable()
export class AdminSignInAuditInterceptor implements NestInterceptor {
  private readonly logger = new Logger('AdminSignInAudit');

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly dataSource: DataSource,
  ) {}

  // Looked up on use: modules that do not import UsersModule (it is not global) use this too.
  private get users(): UsersService {
    return this.moduleRef.get(UsersService, { strict: false });
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<{
      body?: { username?: unknown; email?: unknown };
      id?: string;
      ip?: string;
    }>();
    return next.handle().pipe(
      catchError((err: unknown) => {
        if (!(err instanceof UnauthorizedException)) return throwError(() => err);
        return from(this.record(request)).pipe(mergeMap(() => throwError(() => err)));
      }),
    );
  }

  private async record(request: {
    body?: { username?: unknown; email?: unknown };
    id?: string;
    ip?: string;
  }): Promise<void> {
    try {
      const { username, email } = request.body ?? {};
      const by = typeof username === 'string' ? { username } : typeof email === 'string' ? { email } : undefined;
      if (!by) return;
      const user = await this.users.findForLogin(by);
      if (user?.role !== 'admin') return;
      // Nobody is signed in: the attempt's actor is unknown; the target is the admin account.
      const ctx = { ...auditContextOf({ id: request.id, ip: request.ip }), actorUsername: '' };
      await transactional(this.dataSource, (em) =>
        recordAudit(em, ctx, {
          action: 'admin.sign_in_failed',
          targetType: 'user',
          targetId: user.id,
          targetLabel: user.username,
        }),
      );
    } catch (err) {
      this.logger.warn(`admin sign-in failure not recorded: ${(err as Error).message}`);
    }
  }
}
