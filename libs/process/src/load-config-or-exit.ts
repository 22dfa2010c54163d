import { ConfigError, loadConfig, type AppConfig } from '@echo/config';

/**
 * An entry point's first step: the validated configuration, or — for a bad environment — every
 * problem on stderr and exit code 1 (no stack trace: the message names each variable).
 */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): AppConfig {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
}
