import { createRequire } from 'node:module';
import type { TransportSingleOptions } from 'pino';
import type { AppConfig } from '@echo/config';

/**
 * Where logs go as readable, coloured lines (pino-pretty) instead of JSON: only when a person is
 * reading the terminal — NODE_ENV=development (the default), not CI, and stdout a TTY. Production,
 * tests and CI keep JSON, and so does `npm start | jq` or a log file (not a TTY).
 * pino-pretty is a dev dependency (the production image prunes it): when it is not installed the
 * logs stay JSON rather than the process failing to start.
 */
export function prettyTransport(
  config: Pick<AppConfig, 'env'>,
  env: NodeJS.ProcessEnv = process.env,
  isTTY: boolean = process.stdout.isTTY === true,
  resolve: (id: string) => string = createRequire(import.meta.url).resolve,
): TransportSingleOptions | undefined {
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI !== 'false';
  if (config.env !== 'development' || ci || !isTTY) return undefined;
  let target: string;
  try {
    target = resolve('pino-pretty');
  } catch {
    return undefined;
  }
  return {
    // pino loads it in its own worker thread, so nothing of it is imported by the app itself.
    target,
    options: {
      colorize: true,
      singleLine: true,
      translateTime: 'SYS:HH:MM:ss.l',
      // `[api] [NestApplication] Nest application successfully started`,
      // `[api] request completed GET /api/uploads 200 7 ms`; other fields follow as JSON.
      ignore: 'pid,hostname,app,context,req,res,responseTime',
      messageFormat:
        '[{app}] {if context}[{context}] {end}{msg}{if req.method} {req.method} {req.url} {res.statusCode} {responseTime} ms{end}',
    },
  };
}
