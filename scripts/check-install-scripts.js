// Fails when a package in package-lock.json has install scripts (preinstall/install/postinstall)
// that package.json's `allowScripts` neither approves (`true`) nor denies (`false`). npm 11 only
// warns about such packages on `npm ci`, and a later npm will refuse to run their scripts; this
// check makes a new dependency with an install script a CI failure now, so someone reads the
// script and decides. It reads only the two JSON files: no node_modules, no network.
//
// Keys follow npm's own rules (npm-approve-scripts docs): a bare name, or `name@1.2.3 || 1.2.4`.
// Ranges (^, ~, >=) and dist-tags are refused, as npm ignores them. Bundled dependencies are
// skipped: npm never runs their scripts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXACT = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** `name` or `name@v1 || v2` → { name, versions (null: any version) } or an error string. */
export function parseKey(key) {
  const at = key.indexOf('@', 1); // a scope's leading @ is part of the name
  if (at === -1) return { name: key, versions: null };
  const name = key.slice(0, at);
  const spec = key.slice(at + 1).trim();
  if (spec === '' || spec === '*') return { name, versions: null };
  const versions = spec.split('||').map((v) => v.trim());
  if (!versions.every((v) => EXACT.test(v))) {
    return `"${key}": only exact versions joined by "||" (or the bare name) are allowed, as npm ignores ranges and tags`;
  }
  return { name, versions };
}

/** The package name of a lockfile `packages` key (`node_modules/a/node_modules/@s/b` → `@s/b`). */
function lockName(path, entry) {
  if (entry.name) return entry.name; // aliases and links record the real name
  const i = path.lastIndexOf('node_modules/');
  return i === -1 ? path : path.slice(i + 'node_modules/'.length);
}

/**
 * Compares the lockfile's install-script packages with the policy.
 * Returns { errors, allowed, denied, stale }: errors non-empty means CI must fail.
 */
export function checkInstallScripts(pkg, lock) {
  const policy = pkg.allowScripts ?? {};
  const errors = [];
  const rules = [];
  for (const [key, value] of Object.entries(policy)) {
    if (typeof value !== 'boolean') {
      errors.push(`allowScripts "${key}": the value must be true (approve) or false (deny)`);
      continue;
    }
    const parsed = parseKey(key);
    if (typeof parsed === 'string') errors.push(`allowScripts ${parsed}`);
    else rules.push({ key, value, ...parsed, used: false });
  }

  const allowed = [];
  const denied = [];
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    if (path === '' || !entry.hasInstallScript || entry.inBundle) continue;
    const name = lockName(path, entry);
    const id = `${name}@${entry.version}`;
    const matching = rules.filter((r) => r.name === name && (!r.versions || r.versions.includes(entry.version)));
    for (const r of matching) r.used = true;
    // As npm decides: a deny wins over an allow.
    if (matching.some((r) => !r.value)) denied.push(id);
    else if (matching.length) allowed.push(id);
    else {
      errors.push(
        `${id} (${path}) has install scripts not covered by allowScripts: read them, then add ` +
          `"${name}": true (needed, e.g. a native build) or "${name}": false (skip them) to package.json`,
      );
    }
  }
  const stale = rules.filter((r) => !r.used).map((r) => r.key);
  return { errors, allowed, denied, stale };
}

// CLI: `node scripts/check-install-scripts.js [projectDir]`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));
  const read = (file) => JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const { errors, allowed, denied, stale } = checkInstallScripts(read('package.json'), read('package-lock.json'));
  for (const key of stale) {
    console.warn(`allowScripts "${key}" matches no install-script package in package-lock.json: remove it?`);
  }
  if (errors.length) {
    for (const e of errors) console.error(e);
    process.exit(1);
  }
  console.log(`install scripts: allowed ${allowed.join(', ') || 'none'}; denied ${denied.join(', ') || 'none'}`);
}
