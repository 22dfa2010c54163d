import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { checkInstallScripts, parseKey } from './check-install-scripts.js';

const script = fileURLToPath(new URL('./check-install-scripts.js', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));

const lock = (packages) => ({ lockfileVersion: 3, packages: { '': { name: 'x' }, ...packages } });

describe('check-install-scripts', () => {
  const dirs = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** Runs the CLI on a throwaway project, as `npm run lint` runs it on the real one. */
  const run = (pkg, lockfile) => {
    const dir = mkdtempSync(join(tmpdir(), 'echo-install-scripts-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
    writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(lockfile));
    return spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
  };

  it("passes on the project's own package.json and lockfile, with scarf's telemetry denied", () => {
    const out = execFileSync(process.execPath, [script], { encoding: 'utf8' });
    expect(out).toMatch(/allowed .*argon2@/);
    expect(out).toMatch(/denied @scarf\/scarf@/);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.allowScripts['@scarf/scarf']).toBe(false);
  });

  it('fails when a lockfile brings a package with an install script that allowScripts does not cover', () => {
    const res = run(
      { allowScripts: { argon2: true } },
      lock({
        'node_modules/argon2': { version: '0.45.1', hasInstallScript: true },
        'node_modules/evil-telemetry': { version: '1.0.0', hasInstallScript: true },
      }),
    );
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('evil-telemetry@1.0.0');
    expect(res.stderr).not.toContain('argon2');
  });

  it('finds nested and scoped packages, and skips bundled ones (npm never runs their scripts)', () => {
    const { errors } = checkInstallScripts(
      { allowScripts: {} },
      lock({
        'node_modules/a/node_modules/@s/native': { version: '2.0.0', hasInstallScript: true },
        'node_modules/b/node_modules/inside': { version: '1.0.0', hasInstallScript: true, inBundle: true },
        'node_modules/plain': { version: '1.0.0' },
      }),
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('@s/native@2.0.0');
  });

  it('matches pinned versions exactly, and a deny wins over an allow', () => {
    const packages = lock({
      'node_modules/native': { version: '1.2.4', hasInstallScript: true },
      'node_modules/tele': { version: '1.0.0', hasInstallScript: true },
    });
    const pinned = checkInstallScripts({ allowScripts: { 'native@1.2.3': true, tele: false } }, packages);
    expect(pinned.errors.join()).toContain('native@1.2.4');
    expect(pinned.stale).toEqual(['native@1.2.3']);

    const both = checkInstallScripts(
      { allowScripts: { 'native@1.2.3 || 1.2.4': true, tele: true, 'tele@1.0.0': false } },
      packages,
    );
    expect(both.errors).toEqual([]);
    expect(both.allowed).toEqual(['native@1.2.4']);
    expect(both.denied).toEqual(['tele@1.0.0']);
  });

  it('refuses ranges, tags and non-boolean values, which npm would ignore', () => {
    expect(parseKey('@scope/pkg')).toEqual({ name: '@scope/pkg', versions: null });
    expect(parseKey('pkg@*')).toEqual({ name: 'pkg', versions: null });
    expect(typeof parseKey('pkg@^1.0.0')).toBe('string');
    expect(typeof parseKey('pkg@latest')).toBe('string');
    const { errors } = checkInstallScripts(
      { allowScripts: { 'native@^1.0.0': true, other: 'yes' } },
      lock({ 'node_modules/native': { version: '1.0.0', hasInstallScript: true } }),
    );
    expect(errors).toHaveLength(3); // the range, the value, and native left uncovered
  });
});
