import { parseArgs } from 'node:util';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ConfigModule, type AppConfig } from '@echo/config';
import { DatabaseModule } from '@echo/database';
import { CacheModule } from '@echo/cache';
import { RegisterDto, UsersModule, UsersService } from '@echo/users';
import { FieldErrorsException } from '@echo/http';
import { runMigrations } from './migrations.js';

export const CREATE_ADMIN_USAGE = 'create-admin --username U --email E --password P [--promote]';

/**
 * `create-admin`: creates a new admin account, and refuses (non-zero exit) when the username or
 * email is taken. `--promote` makes an existing account admin instead, only when the username and
 * email name that one account; its password is replaced and its sessions ended. Prints one line
 * saying what happened.
 */
export async function createAdmin(config: AppConfig, argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      username: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      promote: { type: 'boolean', default: false },
    },
  });
  if (!values.username || !values.email || !values.password) throw new Error(`usage: ${CREATE_ADMIN_USAGE}`);
  // The same rules as registration (username characters, email, password strength).
  const dto = plainToInstance(RegisterDto, {
    username: values.username,
    email: values.email,
    password: values.password,
  });
  const invalid = validateSync(dto);
  if (invalid.length)
    throw new Error(invalid.map((e) => `${e.property}: ${Object.values(e.constraints ?? {}).join('; ')}`).join('\n'));
  if (config.embeddedDatabase) await runMigrations(config);

  @Module({
    imports: [
      ConfigModule.forRoot(config),
      DatabaseModule.forRoot(config),
      CacheModule.forRoot(config),
      UsersModule.register(config, { http: false }),
    ],
  })
  class CliModule {}

  const app = await NestFactory.createApplicationContext(CliModule, { logger: ['error', 'warn'] });
  try {
    const { user, created } = await app
      .get(UsersService)
      .createAdmin({ username: dto.username, email: dto.email, password: dto.password, promote: values.promote });
    console.log(
      created
        ? `Created admin ${user.username} (id ${user.id}).`
        : `Promoted existing account ${user.username} (id ${user.id}) to admin; its password was replaced and its sessions ended.`,
    );
  } catch (err) {
    if (err instanceof FieldErrorsException) throw new Error(JSON.stringify(err.fields));
    throw err;
  } finally {
    await app.close();
  }
}
