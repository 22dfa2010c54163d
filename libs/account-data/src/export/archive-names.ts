/** The folder of the archive that holds the originals (profile.json and uploads.json sit beside it). */
export const PHOTOS_DIR = 'photos';

/** Extensions that name each accepted content type; the first is added when a name has none of them. */
const EXTENSIONS: Record<string, string[]> = {
  'image/jpeg': ['jpg', 'jpeg', 'jpe', 'jfif'],
  'image/png': ['png'],
  'image/webp': ['webp'],
  'image/gif': ['gif'],
  'image/avif': ['avif'],
  'image/heic': ['heic', 'heif', 'hif'],
  'image/heif': ['heif', 'heic', 'hif'],
  'image/tiff': ['tif', 'tiff'],
};

// Longest name in UTF-8 bytes, extension and " (n)" included: 255 is the limit of ext4, APFS and
// NTFS (in their units); a little is kept back for the suffix.
const MAX_NAME_BYTES = 240;

// Windows device names, refused with any extension ("con.jpg" opens the console there).
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i;

/**
 * A file name safe to extract anywhere: one path segment (no `/`, `\`, `..`, drive letter), no
 * control or bidirectional-override characters (an extension cannot be spoofed: "gpj.exe"),
 * nothing Windows refuses (`<>:"|?*`, device names, trailing dots or spaces), no leading dot
 * (a hidden file), at most MAX_NAME_BYTES of UTF-8, and an extension that matches the content
 * type (added when missing: "photo.exe" from a JPEG becomes "photo.exe.jpg").
 */
export function safeFileName(original: string, contentType: string, fallback: string): string {
  const base = (original ?? '').normalize('NFC').split(/[/\\]/).pop() ?? '';
  let name = base
    // C0/C1 controls, and the Unicode format characters that reorder or hide text.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '')
    .replace(/[<>:"|?*]/g, '_')
    .trim()
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  const dot = name.lastIndexOf('.');
  let stem = dot > 0 ? name.slice(0, dot) : name;
  let ext = dot > 0 ? name.slice(dot + 1) : '';
  const known = EXTENSIONS[contentType];
  if (known && !known.includes(ext.toLowerCase())) {
    // The extension (if any) is not this format's: keep it in the stem, add the right one.
    stem = name;
    ext = known[0];
  }
  // Windows reserves a device name before any dot: "nul.tar.gz" too.
  if (!stem || RESERVED.test(stem.split('.')[0].trim())) stem = stem ? `_${stem}` : fallback;
  ext = truncateUtf8(ext, 16);
  stem = truncateUtf8(stem, MAX_NAME_BYTES - Buffer.byteLength(ext) - 1).replace(/[.\s]+$/, '') || fallback;
  name = ext ? `${stem}.${ext}` : stem;
  return name;
}

/** Cuts a string to at most `max` bytes of UTF-8, never inside a character. */
export function truncateUtf8(value: string, max: number): string {
  if (Buffer.byteLength(value) <= max) return value;
  let out = '';
  let bytes = 0;
  for (const char of value) {
    const size = Buffer.byteLength(char);
    if (bytes + size > max) break;
    out += char;
    bytes += size;
  }
  return out;
}

/**
 * Unique names within one archive folder: the first "photo.jpg" keeps its name, later ones become
 * "photo (2).jpg", "photo (3).jpg"… Compared case-insensitively, because macOS and Windows
 * extract "Photo.jpg" and "photo.jpg" onto the same file. Holds one short key per name taken,
 * the only memory of an export that grows with the number of files (besides the ZIP's own central
 * directory).
 */
export class UniqueNames {
  private readonly taken = new Set<string>();

  take(name: string): string {
    const dot = name.lastIndexOf('.');
    const stem = dot > 0 ? name.slice(0, dot) : name;
    const ext = dot > 0 ? name.slice(dot) : '';
    let candidate = name;
    for (let n = 2; this.taken.has(key(candidate)); n++) candidate = `${stem} (${n})${ext}`;
    this.taken.add(key(candidate));
    return candidate;
  }
}

const key = (name: string) => name.toLowerCase();
