/**
 * What a completed analysis writes onto its upload's row for search (the columns of
 * UploadSearch1764600000000). Absent fields are written as null: a newer analysis that no longer
 * finds a camera make clears the old one.
 */
export interface SearchAttributes {
  /** EXIF taken-at, else the upload's own created_at (so ordering by taken_at covers every row). */
  takenAt: Date;
  cameraMake: string | null;
  cameraModel: string | null;
  hasGps: boolean;
  orientation: string;
  format: string;
  colorL: number | null;
  colorA: number | null;
  colorB: number | null;
  sharpness: number;
  phash: string;
  /** The displayed size (upright, cropped): what a viewer shows. */
  width: number;
  height: number;
  /**
   * The preview's storage key: the rendition the analysis stored, or the upload's own key when the
   * original displays as is. Absent (left as it is) where no preview was made, as in the backfill.
   */
  previewKey?: string;
}

/** Camera make/model as stored and compared: trimmed, lower-cased, at most 64 characters. */
export function cameraKey(value: string | undefined | null): string | null {
  const key = value?.trim().toLowerCase().slice(0, 64);
  return key ? key : null;
}
