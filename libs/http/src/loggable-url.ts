// Dependency-free on purpose: the tracing setup (libs/telemetry) redacts span attributes with the
// same rule, and it is loaded before pino and Nest, which logging.ts imports.

// Query parameters that carry a credential: a media URL's signature (valid for an hour), an event
// stream ticket, a token someone pasted into the old dashboard login URL, and the names clients
// use for tokens, keys and passwords elsewhere (OAuth's access_token, `jwt`, …) — Echo reads none
// of those, but a client that sends one must not have it kept in the logs.
export const SECRET_QUERY_PARAMS = [
  'sig',
  'ticket',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'refresh',
  'jwt',
  'password',
  'api_key',
  'apikey',
];
const SECRET_PARAMS = new Set(SECRET_QUERY_PARAMS);
const MAX_LOGGED_URL = 2048;

/** The URL as logs keep it: credentials in the query replaced, and bounded in length. */
export function loggableUrl(url: string): string {
  const clean = url.replace(/([?&])([^&#=]*)=([^&#]*)/g, (param: string, sep: string, name: string) =>
    SECRET_PARAMS.has(paramName(name)) ? `${sep}${name}=[redacted]` : param,
  );
  return clean.length > MAX_LOGGED_URL ? `${clean.slice(0, MAX_LOGGED_URL)}…` : clean;
}

/** A query parameter's name as the server reads it (`access%5Ftoken` is `access_token`). */
function paramName(raw: string): string {
  if (!raw.includes('%') && !raw.includes('+')) return raw.toLowerCase();
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}
