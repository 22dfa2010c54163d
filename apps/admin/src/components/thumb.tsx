import { useMemo, useState } from 'preact/hooks';
import { thumbHashToDataURL } from 'thumbhash';

/** A ThumbHash (base64) as a data: URL, or undefined when absent or malformed. */
export function placeholderUrl(hash: string | undefined | null): string | undefined {
  if (!hash) return undefined;
  try {
    return thumbHashToDataURL(Uint8Array.from(atob(hash), (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

/**
 * A lazy thumbnail over its ThumbHash placeholder; `src` undefined (no thumbnail yet) shows the
 * placeholder or a neutral tile with `fallback` text.
 */
export function Thumb(props: { src?: string; placeholder?: string | null; alt: string; fallback?: string }) {
  const [loaded, setLoaded] = useState(false);
  const [failed, setFailed] = useState(false);
  const blur = useMemo(() => placeholderUrl(props.placeholder), [props.placeholder]);
  return (
    <span class="thumb">
      {blur && !loaded && <img class="placeholder" src={blur} alt="" aria-hidden="true" />}
      {props.src && !failed ? (
        <img
          class={loaded ? 'loaded' : 'loading'}
          src={props.src}
          alt={props.alt}
          loading="lazy"
          decoding="async"
          onLoad={() => setLoaded(true)}
          onError={() => setFailed(true)}
        />
      ) : (
        !blur && <span class="no-thumb">{props.fallback ?? 'no thumbnail'}</span>
      )}
    </span>
  );
}
