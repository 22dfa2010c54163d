/**
 * Fixtures from encoders Echo did not write: heif-enc (Debian libheif-examples) for HEIC, exiftool
 * (libimage-exiftool-perl) for EXIF, ImageMagick for CMYK JPEG and multi-page TIFF. `.ci/run`
 * installs them when missing; elsewhere a test that needs one is skipped with the reason, unless
 * REQUIRE_SERVICES=1, where a missing tool fails the run.
 */
import { execFile } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** ImageMagick 7's `magick`, else Debian's ImageMagick 6 binary, else whatever `convert` is. */
function imageMagick(): string | undefined {
  return ['magick', 'convert-im6.q16', 'convert'].find(has);
}

export const TOOLS = {
  heifEnc: has('heif-enc') ? 'heif-enc' : undefined,
  exiftool: has('exiftool') ? 'exiftool' : undefined,
  imageMagick: imageMagick(),
};

const PACKAGES: Record<keyof typeof TOOLS, string> = {
  heifEnc: 'heif-enc (apt-get install libheif-examples)',
  exiftool: 'exiftool (apt-get install libimage-exiftool-perl)',
  imageMagick: 'ImageMagick (apt-get install imagemagick)',
};

/**
 * True when the tests that need these tools must be skipped (printing why). Under
 * REQUIRE_SERVICES=1 a missing tool throws instead: CI must not pass by skipping.
 */
export function skipWithout(...needed: Array<keyof typeof TOOLS>): boolean {
  const missing = needed.filter((t) => !TOOLS[t]).map((t) => PACKAGES[t]);
  if (missing.length === 0) return false;
  const msg = `missing ${missing.join(', ')}`;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`REQUIRE_SERVICES=1 but ${msg}`);
  console.warn(`skipping real-encoder fixtures: ${msg}`);
  return true;
}

/** Runs `fn` with a fresh temp dir, removed afterwards. */
async function inTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'echo-fixture-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `heif-enc -q <quality>` of a JPEG or PNG: HEVC in a HEIC container, EXIF carried over. */
export function heifEnc(input: Buffer, quality = 80, extraArgs: string[] = []): Promise<Buffer> {
  return inTemp(async (dir) => {
    const src = join(dir, input[0] === 0xff ? 'in.jpg' : 'in.png');
    const out = join(dir, 'out.heic');
    await writeFile(src, input);
    await run(TOOLS.heifEnc!, ['-q', String(quality), ...extraArgs, src, '-o', out]);
    return readFile(out);
  });
}

/** `heif-enc` of several JPEGs into one file (the first is the primary image). */
export function heifEncMany(jpegs: Buffer[], quality = 80): Promise<Buffer> {
  return inTemp(async (dir) => {
    const names = await Promise.all(
      jpegs.map(async (j, i) => {
        const name = join(dir, `in${i}.jpg`);
        await writeFile(name, j);
        return name;
      }),
    );
    const out = join(dir, 'out.heic');
    await run(TOOLS.heifEnc!, ['-q', String(quality), ...names, '-o', out]);
    return readFile(out);
  });
}

/** exiftool writing tags into a copy of `input` (`ext` tells exiftool the format). */
export function exiftool(input: Buffer, ext: string, args: string[]): Promise<Buffer> {
  return inTemp(async (dir) => {
    const file = join(dir, `img.${ext}`);
    await writeFile(file, input);
    await run(TOOLS.exiftool!, ['-q', '-overwrite_original', ...args, file]);
    return readFile(file);
  });
}

/** ImageMagick: `args` with {in} and {out} placeholders, input and output file names by extension. */
export function imageMagickConvert(input: Buffer, inExt: string, outExt: string, args: string[]): Promise<Buffer> {
  return inTemp(async (dir) => {
    const src = join(dir, `in.${inExt}`);
    const out = join(dir, `out.${outExt}`);
    await writeFile(src, input);
    await run(
      TOOLS.imageMagick!,
      args.map((a) => (a === '{in}' ? src : a === '{out}' ? out : a)),
    );
    return readFile(out);
  });
}
