/**
 * `blurry=true`: sharpness (analyzer's Laplacian variance of the luma at 256 px) below this. bench/blur-threshold.js on
 * test/fixtures/photos: sharp photos ≥ 248 (×1.65), heavy blur (σ 5 px at 2048 px on low-detail scenes, camera shake) ≤ 123.
 */
export const BLURRY_BELOW_SHARPNESS = 150;
