import convert from 'color-convert';

/** A colour in CIELAB (D65): L* 0–100, a*, b* roughly ±128. */
export type Lab = readonly [l: number, a: number, b: number];

/** `#rrggbb` (either case) → CIELAB; null for anything else. */
export function labOfHex(hex: string): Lab | null {
  if (!/^#[0-9a-fA-F]{6}$/.test(hex)) return null;
  return convert.hex.lab.raw(hex.slice(1)) as unknown as Lab;
}

/** CIE76 ΔE*ab: the Euclidean distance in CIELAB (what the `color` filter computes in SQL). */
export function deltaE(x: Lab, y: Lab): number {
  return Math.hypot(x[0] - y[0], x[1] - y[1], x[2] - y[2]);
}
