import type { Schemas } from '../api/client';
import { formatDate } from './format';
import { Thumb } from './thumb';

type Upload = Schemas['AdminUploadResponse'];

/**
 * Uploads as a thumbnail grid linking to their detail. Only a completed analysis has made a
 * thumbnail, so others show their status instead of a broken image.
 */
export function UploadGrid(props: {
  uploads: Upload[];
  placeholders: Map<string, string>;
  /** The date each tile shows: when it was uploaded (default) or taken (a list ordered by it). */
  date?: 'created_at' | 'taken_at';
  empty?: string;
}) {
  if (!props.uploads.length) return <p>{props.empty ?? 'No uploads.'}</p>;
  const date = props.date ?? 'created_at';
  return (
    <ul class="grid" aria-label="Uploads">
      {props.uploads.map((upload) => {
        const status = upload.analysis?.status;
        return (
          <li key={upload.id}>
            <a href={`/admin/uploads/${upload.id}`}>
              <Thumb
                src={status === 'completed' ? upload.thumbnail_url : undefined}
                placeholder={props.placeholders.get(upload.id)}
                alt={upload.title || upload.original_name || 'upload'}
                fallback={status ?? 'no analysis'}
              />
              <span class="caption">
                <span class="name">{upload.title || upload.original_name || upload.id.slice(0, 8)}</span>
                <small>
                  {date === 'taken_at' ? 'taken ' : ''}
                  {formatDate(upload[date])}
                </small>
              </span>
            </a>
          </li>
        );
      })}
    </ul>
  );
}
