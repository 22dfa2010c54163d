/**
 * `blurry=true` means a sharpness (variance of the Laplacian of the luma at 256 px long edge, see
 * the analyzer) below this. Chosen on real photos: see docs/api.md#blurry for the measurement.
 */
export const BLURRY_BELOW_SHARPNESS = 100;
