import { parseArgs } from 'node:util';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigModule, type AppConfig } from '@echo/config';
import { DatabaseModule } from '@echo/database';
import { CacheModule } from '@echo/cache';
import { UsersModule, UsersService } from '@echo/users';
import { FieldErrorsException } from '@echo/http';
import { runMigrations } from './migrations.js';

/** `create-admin --username U --email E --password P`: creates the admin or promotes the account. */
export async function createAdmin(config: AppConfig, argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { username: { type: 'string' }, email: { type: 'string' }, password: { type: 'string' } } });
  if (!values.username || !values.email || !values.password) throw new Error('usage: create-admin --username U --email E --password P');
  if (config.embeddedDatabase) await runMigrations(config);

  @Module({
    imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config), CacheModule.forRoot(config), UsersModule.register(config, { http: false })],
  })
  class CliModule {}

  const app = await NestFactory.createApplicationContext(CliModule, { logger: ['error', 'warn'] });
  try {
    const { user, created } = await app
      .get(UsersService)
      .createOrPromoteAdmin({ username: values.username, email: values.email, password: values.password });
    console.log(`${created ? 'Created' : 'Promoted'} admin ${user.username} (id ${user.id})`);
  } catch (err) {
    if (err instanceof FieldErrorsException) throw new Error(JSON.stringify(err.fields));
    throw err;
  } finally {
    await app.close();
  }
}
