import { cameraKey, labOfHex, orientationOf, type SearchAttributes } from '@echo/uploads';
import type { AnalysisResult } from '../analyzer/analyze-image.js';

/** The upload row's search columns from a completed analysis of it. */
export function searchAttributes(result: AnalysisResult, uploadedAt: Date): SearchAttributes {
  const lab = labOfHex(result.dominant_color);
  const width = result.oriented_width;
  const height = result.oriented_height;
  return {
    takenAt: takenAtOf(result.exif.taken_at) ?? uploadedAt,
    cameraMake: cameraKey(result.exif.make),
    cameraModel: cameraKey(result.exif.model),
    hasGps: result.exif.gps === true,
    orientation: orientationOf(width, height),
    format: result.format,
    colorL: lab ? lab[0] : null,
    colorA: lab ? lab[1] : null,
    colorB: lab ? lab[2] : null,
    sharpness: result.sharpness,
    phash: result.phash,
    width,
    height,
  };
}

/**
 * The analyzer's taken-at (`YYYY-MM-DDTHH:MM:SS`, `±HH:MM` when the camera recorded an offset) as
 * an instant. Without an offset the wall-clock time is read as UTC: the camera's zone is unknown,
 * and "photos from 14 July" should find a photo taken at 23:30 on 14 July wherever it was taken.
 */
export function takenAtOf(value: string | undefined): Date | null {
  if (!value) return null;
  const withZone = /[+-]\d\d:\d\d$|Z$/.test(value) ? value : `${value}Z`;
  const at = new Date(withZone);
  const year = at.getUTCFullYear();
  return Number.isNaN(at.getTime()) || year < 1826 || year > 9999 ? null : at;
}
