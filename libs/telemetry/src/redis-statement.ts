import { loggableUrl } from '../../http/src/loggable-url.js';

type Arg = string | Buffer | number | unknown[] | unknown;

const SCRIPT = /^(EVAL|EVALSHA|EVAL_RO|EVALSHA_RO|FCALL|FCALL_RO)$/;
// Commands whose arguments are credentials.
const NO_ARGUMENTS = /^(AUTH|HELLO|MIGRATE|CONFIG|ACL)$/;
const MAX_KEY = 200;

/**
 * db.statement for Redis spans: the command and the key(s) it touches, never a value (cached
 * pages, job data and event payloads are large and may be personal; AUTH carries the password).
 * A script call shows its keys, not its source or arguments.
 */
export function redisStatement(command: string, args: Arg[]): string {
  const name = command.toUpperCase();
  if (NO_ARGUMENTS.test(name) || !args.length) return name;
  if (SCRIPT.test(name)) {
    const count = Number(args[1]) || 0;
    const keys = args.slice(2, 2 + count).map(key);
    const rest = args.length - 2 - keys.length;
    return [name, ...keys, rest > 0 ? `[${rest} arguments]` : ''].filter(Boolean).join(' ');
  }
  const rest = args.length - 1;
  return `${name} ${key(args[0])}${rest ? ` [${rest} other arguments]` : ''}`;
}

function key(value: Arg): string {
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  // A key built from a URL keeps no credential from its query.
  return loggableUrl(text.length > MAX_KEY ? `${text.slice(0, MAX_KEY)}…` : text);
}
