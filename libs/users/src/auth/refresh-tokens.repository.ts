import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Not, type EntityManager, type Repository } from 'typeorm';
import { RefreshToken } from './refresh-token.entity.js';

/** Every query on refresh_tokens; reads go where the caller's scope sends them (`onPrimary`). */
@Injectable()
export class RefreshTokensRepository {
  constructor(@InjectRepository(RefreshToken) private readonly tokens: Repository<RefreshToken>) {}

  async insert(row: RefreshToken, manager: EntityManager = this.tokens.manager): Promise<void> {
    await manager.getRepository(RefreshToken).insert(row);
  }

  findById(id: string, manager: EntityManager = this.tokens.manager): Promise<RefreshToken | null> {
    return manager.getRepository(RefreshToken).findOne({ where: { id } });
  }

  /** Marks the token used if it is neither used nor revoked: of two concurrent uses, exactly one gets true. */
  async markUsed(id: string, at: Date, manager: EntityManager = this.tokens.manager): Promise<boolean> {
    const result = await manager
      .getRepository(RefreshToken)
      .update({ id, usedAt: IsNull(), revokedAt: IsNull() }, { usedAt: at });
    return Boolean(result.affected);
  }

  /** Every live token of the user (in `manager`'s transaction when given). */
  async revokeAllForUser(userId: number, manager: EntityManager = this.tokens.manager): Promise<void> {
    await manager.getRepository(RefreshToken).update({ userId, revokedAt: IsNull() }, { revokedAt: new Date() });
  }

  async revokeFamily(familyId: string): Promise<void> {
    await this.tokens.update({ familyId, revokedAt: IsNull() }, { revokedAt: new Date() });
  }

  /** Whether any token of the family was revoked. */
  anyRevokedIn(familyId: string): Promise<boolean> {
    return this.tokens.exists({ where: { familyId, revokedAt: Not(IsNull()) } });
  }
}
