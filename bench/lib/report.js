// Tables (console and Markdown) and the result files under bench/results/.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './stack.js';

export const RESULTS_DIR = join(ROOT, 'bench/results');

/** `n/a` for values that could not be measured. */
export function fmt(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return 'n/a';
  if (typeof value !== 'number') return String(value);
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** columns: [{ title, value: (row) => string, align?: 'left' }] */
export function table(rows, columns, { markdown = false } = {}) {
  const cells = rows.map((row) => columns.map((c) => String(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i].length)));
  const pad = (text, i) => (columns[i].align === 'left' ? text.padEnd(widths[i]) : text.padStart(widths[i]));
  const line = (parts) => (markdown ? `| ${parts.join(' | ')} |` : parts.join('  '));
  const out = [line(columns.map((c, i) => pad(c.title, i)))];
  out.push(
    markdown
      ? `|${columns.map((c, i) => (c.align === 'left' ? ':' : '-') + '-'.repeat(widths[i]) + (c.align === 'left' ? '-' : ':')).join('|')}|`
      : widths.map((w) => '-'.repeat(w)).join('  '),
  );
  for (const r of cells) out.push(line(r.map(pad)));
  return out.join('\n');
}

export function timestamp(date = new Date()) {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace('T', '-');
}

/** Where the numbers came from: commit, machine, Node. */
export function environment() {
  const git = (...args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const dirty = git('status', '--porcelain');
  return {
    commit: git('rev-parse', '--short', 'HEAD'),
    dirty: dirty === null ? null : dirty.length > 0,
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
  };
}

/** Writes `<name>.md` and `<name>.json`; with `latest` (a name like `latest.md`), copies both to `latest.md`/`latest.json`. */
export function writeResults(name, markdown, json, latest) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const md = join(RESULTS_DIR, `${name}.md`);
  const js = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(md, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  writeFileSync(js, `${JSON.stringify(json, null, 2)}\n`);
  if (latest) {
    copyFileSync(md, join(RESULTS_DIR, latest));
    copyFileSync(js, join(RESULTS_DIR, latest.replace(/\.md$/, '.json')));
  }
  return { md, json: js };
}
