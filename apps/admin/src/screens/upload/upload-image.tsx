import { useEffect, useState } from 'preact/hooks';
import type { Schemas } from '../../api/client';

/** Originals Chromium, Firefox and Safari all display (HEIC and TIFF are not among them). */
const BROWSER_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif']);

/**
 * The upload's image as a browser can show it. Once an analysis has completed: its preview (a WebP
 * rendition, or the original when that displays as is), falling back to the thumbnail (uploads
 * analysed before previews existed), then to the original if a browser can decode it. Before: the
 * original when a browser can decode it, else a note; never a HEIC the browser would show broken.
 */
export function UploadImage(props: { upload: Schemas['AdminUploadResponse']; analysed: boolean; alt: string }) {
  const u = props.upload;
  const displayable = BROWSER_TYPES.has(u.content_type);
  const sources = props.analysed
    ? [u.preview_url, u.thumbnail_url, ...(displayable ? [u.file_url] : [])]
    : displayable
      ? [u.file_url]
      : [];
  const [failed, setFailed] = useState(0);
  // Another upload, or the analysis just completed: start again from the best source.
  useEffect(() => setFailed(0), [u.id, props.analysed]);
  const src = sources[failed];
  if (!src)
    return (
      <p class="muted">
        {props.analysed
          ? 'No preview could be shown.'
          : `No preview yet: browsers cannot show ${u.content_type}; the analysis makes one.`}
      </p>
    );
  return (
    <img
      src={src}
      alt={props.alt}
      width={u.width}
      height={u.height}
      decoding="async"
      onError={() => setFailed((n) => n + 1)}
    />
  );
}
