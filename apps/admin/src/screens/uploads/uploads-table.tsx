import { useEffect, useRef } from 'preact/hooks';
import type { Schemas } from '../../api/client';
import { formatBytes, formatDate } from '../../components/format';
import { Thumb } from '../../components/thumb';

type Upload = Schemas['AdminUploadResponse'];

const TYPE_NAMES: Record<string, string> = { 'image/jpeg': 'JPEG', 'image/webp': 'WebP', 'image/tiff': 'TIFF' };
/** `image/heic` → HEIC: the type Echo recognised from the file's bytes at upload. */
export const typeName = (contentType: string) =>
  TYPE_NAMES[contentType] ?? contentType.replace(/^image\//, '').toUpperCase();

/**
 * A page of anyone's uploads as table rows to moderate: a checkbox each (and one for the whole
 * page), the thumbnail and title linking to the upload's screen, the owner linking to theirs.
 */
export function UploadsTable(props: {
  uploads: Upload[];
  placeholders: Map<string, string>;
  selected: ReadonlySet<string>;
  onSelect: (ids: string[], on: boolean) => void;
  /** The list is ordered by taken-at: each row also says when the photo was taken. */
  showTaken: boolean;
  busy: boolean;
  disabled: boolean;
  empty: string;
}) {
  const { uploads, selected } = props;
  const onPage = uploads.filter((u) => selected.has(u.id)).length;
  const all = useRef<HTMLInputElement>(null);
  // "Some selected" has no attribute: only the property shows the mixed state.
  useEffect(() => {
    if (all.current) all.current.indeterminate = onPage > 0 && onPage < uploads.length;
  }, [onPage, uploads.length]);

  return (
    <div class="table-wrap">
      <table class="uploads-table" aria-busy={props.busy}>
        <caption class="visually-hidden">Uploads</caption>
        <thead>
          <tr>
            <th scope="col" class="pick">
              <input
                ref={all}
                type="checkbox"
                aria-label="Select all on this page"
                checked={uploads.length > 0 && onPage === uploads.length}
                disabled={props.disabled || !uploads.length}
                onChange={(e) =>
                  props.onSelect(
                    uploads.map((u) => u.id),
                    e.currentTarget.checked,
                  )
                }
              />
            </th>
            <th scope="col">
              <span class="visually-hidden">Thumbnail</span>
            </th>
            <th scope="col">Upload</th>
            <th scope="col">Owner</th>
            <th scope="col">Type</th>
            <th scope="col" class="num">
              Size
            </th>
            <th scope="col" class="num">
              Dimensions
            </th>
            <th scope="col">Analysis</th>
            <th scope="col">Uploaded</th>
          </tr>
        </thead>
        <tbody>
          {uploads.map((upload) => {
            const name = upload.title || upload.original_name || upload.id.slice(0, 8);
            const status = upload.analysis?.status;
            const href = `/admin/uploads/${upload.id}`;
            return (
              <tr key={upload.id} class={selected.has(upload.id) ? 'picked' : undefined}>
                <td class="pick">
                  <input
                    type="checkbox"
                    aria-label={`Select ${name}`}
                    checked={selected.has(upload.id)}
                    disabled={props.disabled}
                    onChange={(e) => props.onSelect([upload.id], e.currentTarget.checked)}
                  />
                </td>
                <td class="thumb-cell">
                  {/* The title's link is the one announced; this one repeats it for the pointer. */}
                  <a href={href} tabIndex={-1} aria-hidden="true">
                    <Thumb
                      src={status === 'completed' ? upload.thumbnail_url : undefined}
                      placeholder={props.placeholders.get(upload.id)}
                      alt=""
                      fallback={status === 'failed' ? '✕' : '…'}
                    />
                  </a>
                </td>
                <td class="name">
                  <a href={href}>{name}</a>
                  {upload.title && upload.original_name && <small>{upload.original_name}</small>}
                </td>
                <td>
                  <a href={`/admin/users/${upload.user_id}`}>{upload.username || `#${upload.user_id}`}</a>
                </td>
                <td>{typeName(upload.content_type)}</td>
                <td class="num">{formatBytes(upload.size)}</td>
                <td class="num">
                  {upload.width} × {upload.height}
                </td>
                <td>{status ? <span class={`badge ${status}`}>{status}</span> : <span class="muted">none</span>}</td>
                <td class="when">
                  <time dateTime={upload.created_at}>{formatDate(upload.created_at)}</time>
                  {props.showTaken && (
                    <small>
                      taken <time dateTime={upload.taken_at}>{formatDate(upload.taken_at)}</time>
                    </small>
                  )}
                </td>
              </tr>
            );
          })}
          {!uploads.length && (
            <tr>
              <td colSpan={9}>{props.empty}</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
