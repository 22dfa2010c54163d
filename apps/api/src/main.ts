import { ConfigError, loadConfig } from '@echo/config';
import { createApiApp } from './create-api-app.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const app = await createApiApp(config);
  await app.listen({ port: config.http.port, host: config.http.host });
  const shown = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  const mode = config.embeddedDatabase ? `embedded (SQLite ${config.database.sqlitePath}, in-memory cache, in-process jobs)` : 'MySQL + Redis';
  console.log(`Echo API listening on http://${shown}:${config.http.port} — docs at /docs — ${mode}`);
}

void main();
