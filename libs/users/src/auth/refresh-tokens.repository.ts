import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Not, type EntityManager, type Repository } from 'typeorm';
import { RefreshToken } from './refresh-token.entity.js';

/** Every query on refresh_tokens; reads go where the caller's scope sends them (`onPrimary`). */
@Injectable()
export class RefreshTokensRepository {
  constructor(@InjectRepository(RefreshToken) private readonly tokens: Repository<RefreshToken>) {}

  async insert(row: RefreshToken): Promise<void> {
    await this.tokens.insert(row);
  }

  findById(id: string): Promise<RefreshToken | null> {
    return this.tokens.findOne({ where: { id } });
  }

  /** Marks the token used if it is neither used nor revoked: of two concurrent uses, exactly one gets true. */
  async markUsed(id: string, at: Date): Promise<boolean> {
    const result = await this.tokens.update({ id, usedAt: IsNull(), revokedAt: IsNull() }, { usedAt: at });
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
