export const ORIENTATIONS = ['landscape', 'portrait', 'square'] as const;
export type Orientation = (typeof ORIENTATIONS)[number];

/** Of the displayed size; within 1 % counts as square (a 3000×2990 crop is square to the eye). */
export function orientationOf(width: number, height: number): Orientation {
  const long = Math.max(width, height);
  const short = Math.min(width, height);
  if (long <= short * 1.01) return 'square';
  return width > height ? 'landscape' : 'portrait';
}
