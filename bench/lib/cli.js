// Flag helpers shared by the bench scripts.

/** `--help`: print the script's help and exit. */
export function helpAndExit(flags, help) {
  if (!flags.help) return;
  console.log(help);
  process.exit(0);
}

/** A flag that must be a positive integer. */
export function positiveInt(raw, name) {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer (got ${raw})`);
  return n;
}
