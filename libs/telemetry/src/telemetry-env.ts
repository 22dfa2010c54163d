type Env = Record<string, string | undefined>;

const PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'];
const EXPORTERS = ['otlp', 'console', 'zipkin', 'none'];
export const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

const set = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';
const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

/**
 * Tracing is off unless an exporter is configured with the standard variables: an OTLP endpoint
 * (OTEL_EXPORTER_OTLP_ENDPOINT or its _TRACES_ form) or OTEL_TRACES_EXPORTER naming one
 * (`console` to see spans on stdout). OTEL_SDK_DISABLED=true wins over both.
 */
export function tracingWanted(env: Env = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = list(env.OTEL_TRACES_EXPORTER);
  if (exporters.length) return !exporters.every((e) => e === 'none');
  return set(env.OTEL_EXPORTER_OTLP_ENDPOINT) || set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Error reports go to Sentry only with SENTRY_DSN set. */
export function sentryWanted(env: Env = process.env): boolean {
  return set(env.SENTRY_DSN);
}

/**
 * What the SDKs would otherwise only warn about (and then run without): each problem names its
 * variable, as the app's own configuration errors do. Values are shown except the DSN's (it
 * carries the project key); headers variables (tokens) are never read here.
 */
export function telemetryEnvErrors(env: Env = process.env): string[] {
  const problems: string[] = [];
  const got = (name: string) => ` (got ${JSON.stringify(env[name])})`;
  if (tracingWanted(env)) {
    for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) {
      if (set(env[name]) && !httpUrl(env[name])) problems.push(`${name}: must be an http(s) URL${got(name)}`);
    }
    for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']) {
      if (set(env[name]) && !PROTOCOLS.includes(env[name].trim()))
        problems.push(`${name}: must be one of ${PROTOCOLS.join(', ')}${got(name)}`);
    }
    const unknown = list(env.OTEL_TRACES_EXPORTER).filter((e) => !EXPORTERS.includes(e));
    if (unknown.length)
      problems.push(`OTEL_TRACES_EXPORTER: each must be one of ${EXPORTERS.join(', ')}${got('OTEL_TRACES_EXPORTER')}`);
    const sampler = env.OTEL_TRACES_SAMPLER?.trim();
    if (set(sampler) && !SAMPLERS.includes(sampler))
      problems.push(`OTEL_TRACES_SAMPLER: must be one of ${SAMPLERS.join(', ')}${got('OTEL_TRACES_SAMPLER')}`);
    if (set(env.OTEL_TRACES_SAMPLER_ARG) && sampler?.endsWith('traceidratio') && samplerRatio(env) === undefined)
      problems.push(`OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1${got('OTEL_TRACES_SAMPLER_ARG')}`);
  }
  if (sentryWanted(env) && !sentryDsn(env.SENTRY_DSN!))
    problems.push('SENTRY_DSN: must be a Sentry DSN (https://<key>@<host>/<project id>)');
  return problems;
}

/** OTEL_TRACES_SAMPLER_ARG as a ratio (default 1), or undefined when it is not one. */
export function samplerRatio(env: Env = process.env): number | undefined {
  const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (!raw) return 1;
  const ratio = Number(raw);
  return Number.isFinite(ratio) && ratio >= 0 && ratio <= 1 ? ratio : undefined;
}

function httpUrl(value: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

function sentryDsn(value: string): boolean {
  try {
    const url = new URL(value);
    return ['http:', 'https:'].includes(url.protocol) && url.username !== '' && /\/\d+$/.test(url.pathname);
  } catch {
    return false;
  }
}
