import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api, unwrap, type Schemas } from '../../api/client';
import { ConfirmButton } from '../../components/confirm-button';
import { formatBytes, formatDate } from '../../components/format';
import { Meter } from '../../components/meter';
import { Thumb } from '../../components/thumb';
import { useAsync } from '../../components/use-async';
import { AnalysisStatus } from '../analyses/analysis-status';
import { UploadImage } from './upload-image';
import { SimilarStrip } from './similar-strip';
import { UploadHistory } from '../audit-log/target-history';

/** The analyzer's result (libs/visual-analysis AnalysisResult + near_duplicates). */
interface Result {
  format: string;
  width: number;
  height: number;
  orientation: number;
  color_space: string;
  has_alpha: boolean;
  bit_depth: number;
  exif: { make?: string; model?: string; taken_at?: string; gps?: true };
  dominant_color: string;
  palette: string[];
  brightness: number;
  contrast: number;
  sharpness: number;
  entropy: number;
  phash: string;
  placeholder: string;
  near_duplicates: string[];
}

const MAX_DUPLICATES = 12;

/** One upload for moderation: the image, metadata, the analysis for people, near-duplicates, delete. */
export function UploadDetail(props: { params?: { id: string }; id?: string }) {
  const id = props.params?.id ?? props.id ?? '';
  const { route } = useLocation();
  const [retryError, setRetryError] = useState('');
  // Actions taken here: the History reloads after each (a retried analysis may fail again before
  // the screen sees it queued, so the analysis' id and status alone can come back unchanged).
  const [actions, setActions] = useState(0);
  const upload = useAsync(
    async () => unwrap(await api.GET('/api/admin/uploads/{id}', { params: { path: { id } } })),
    [id],
  );
  const analysis = useAsync(async () => {
    const page = unwrap(
      await api.GET('/api/admin/visual-analysis', { params: { query: { upload_id: id, page_size: 20 } } }),
    );
    const latest = page.results[0];
    const result = (latest?.result ?? null) as Result | null;
    const ids = (result?.near_duplicates ?? []).slice(0, MAX_DUPLICATES);
    const duplicates = await Promise.all(
      ids.map(async (dup) => (await api.GET('/api/admin/uploads/{id}', { params: { path: { id: dup } } })).data),
    );
    return {
      latest,
      history: page.count ?? page.results.length,
      result,
      duplicates: duplicates.filter((d): d is Schemas['AdminUploadResponse'] => Boolean(d)),
    };
  }, [id]);

  // While the analysis runs, follow it (progress, then the result).
  const pending = analysis.data?.latest && ['queued', 'processing'].includes(analysis.data.latest.status);
  useEffect(() => {
    if (!pending) return undefined;
    const timer = setTimeout(() => {
      analysis.reload();
      upload.reload();
    }, 1500);
    return () => clearTimeout(timer);
  }, [pending, analysis.data]);

  if (upload.error)
    return (
      <p role="alert" class="error">
        {upload.error}
      </p>
    );
  const u = upload.data;
  if (!u) return <p aria-busy="true">Loading…</p>;
  const a = analysis.data?.latest;
  const r = analysis.data?.result;

  const remove = async () => {
    unwrap(await api.DELETE('/api/admin/uploads/{id}', { params: { path: { id } } }));
    route(`/admin/users/${u.user_id}`);
  };
  const retry = async () => {
    setRetryError('');
    try {
      unwrap(await api.POST('/api/admin/visual-analysis/{id}/retry', { params: { path: { id: a!.id } } }));
    } catch (err) {
      setRetryError((err as Error).message);
    }
    setActions((n) => n + 1);
    analysis.reload();
  };

  return (
    <section>
      <p class="crumbs">
        <a href={`/admin/users/${u.user_id}`}>{u.username}</a> / {u.title || u.original_name || u.id}
      </p>
      <h1>{u.title || u.original_name || 'Upload'}</h1>
      <div class="upload-layout">
        <figure class="image">
          <UploadImage
            upload={u}
            analysed={a?.status === 'completed'}
            alt={u.title || u.original_name || 'the uploaded image'}
          />
          <figcaption>
            <a href={u.file_url} target="_blank" rel="noopener">
              Original
            </a>{' '}
            · {u.content_type} · {u.width}×{u.height} · {formatBytes(u.size)}
          </figcaption>
        </figure>
        <div>
          <dl class="profile">
            <dt>Owner</dt>
            <dd>
              <a href={`/admin/users/${u.user_id}`}>{u.username}</a>
            </dd>
            <dt>Uploaded</dt>
            <dd>{formatDate(u.created_at)}</dd>
            <dt>File name</dt>
            <dd>{u.original_name || '—'}</dd>
            <dt>SHA-256</dt>
            <dd class="mono">{u.sha256}</dd>
          </dl>
          <div class="actions">
            <ConfirmButton
              label="Delete upload"
              danger
              question={
                <>
                  Delete this upload of {u.username}? The file, its thumbnail and its analyses go too. This cannot be
                  undone.
                </>
              }
              onConfirm={remove}
            />
          </div>
        </div>
      </div>

      <SimilarStrip id={id} />

      <h2>Analysis</h2>
      {analysis.error && (
        <p role="alert" class="error">
          {analysis.error}
        </p>
      )}
      {!a && analysis.data && <p>No analysis.</p>}
      {a && (
        <>
          <AnalysisStatus analysis={a} onRetry={a.status === 'failed' ? retry : undefined} />
          {retryError && (
            <p role="alert" class="error">
              {retryError}
            </p>
          )}
          {r && (
            <div class="result">
              <section aria-label="Colours">
                <h3>Colours</h3>
                <p class="dominant">
                  <i class="swatch big" ref={(el) => el?.style.setProperty('background', r.dominant_color)} /> Dominant{' '}
                  <code>{r.dominant_color}</code>
                </p>
                <ul class="palette" aria-label="Palette">
                  {r.palette.map((color) => (
                    <li key={color}>
                      <i class="swatch big" ref={(el) => el?.style.setProperty('background', color)} />
                      <code>{color}</code>
                    </li>
                  ))}
                </ul>
              </section>
              <section aria-label="Measures">
                <h3>Measures</h3>
                <Meter label="Brightness" value={r.brightness} max={1} />
                <Meter label="Contrast" value={r.contrast} max={1} />
                <Meter label="Sharpness" value={r.sharpness} max={2000} display={r.sharpness.toFixed(0)} />
                <Meter label="Entropy" value={r.entropy} max={8} display={`${r.entropy.toFixed(2)} bits`} />
              </section>
              <section aria-label="Image">
                <h3>Image</h3>
                <dl class="profile">
                  <dt>Format</dt>
                  <dd>{r.format}</dd>
                  <dt>Size</dt>
                  <dd>
                    {r.width}×{r.height} (orientation {r.orientation})
                  </dd>
                  <dt>Colour</dt>
                  <dd>
                    {r.color_space}, {r.bit_depth}-bit{r.has_alpha ? ', alpha' : ''}
                  </dd>
                  <dt>pHash</dt>
                  <dd class="mono">{r.phash}</dd>
                </dl>
              </section>
              <section aria-label="EXIF">
                <h3>EXIF</h3>
                {Object.keys(r.exif).length ? (
                  <dl class="profile">
                    {r.exif.make && (
                      <>
                        <dt>Make</dt>
                        <dd>{r.exif.make}</dd>
                      </>
                    )}
                    {r.exif.model && (
                      <>
                        <dt>Model</dt>
                        <dd>{r.exif.model}</dd>
                      </>
                    )}
                    {r.exif.taken_at && (
                      <>
                        <dt>Taken</dt>
                        <dd>{r.exif.taken_at}</dd>
                      </>
                    )}
                    <dt>GPS</dt>
                    <dd>{r.exif.gps ? 'present (not read)' : 'none'}</dd>
                  </dl>
                ) : (
                  <p>No EXIF fields.</p>
                )}
              </section>
            </div>
          )}
          <h3>Near-duplicates</h3>
          {analysis.data?.duplicates.length ? (
            <ul class="grid small" aria-label="Near-duplicates">
              {analysis.data.duplicates.map((d) => (
                <li key={d.id}>
                  <a href={`/admin/uploads/${d.id}`}>
                    <Thumb
                      src={d.analysis?.status === 'completed' ? d.thumbnail_url : undefined}
                      alt={`near-duplicate ${d.title || d.original_name || d.id}`}
                      fallback={d.analysis?.status}
                    />
                  </a>
                </li>
              ))}
            </ul>
          ) : (
            <p>None found.</p>
          )}
        </>
      )}
      <UploadHistory id={id} reloadKey={`${a ? `${a.id}:${a.status}` : ''}:${actions}`} />
    </section>
  );
}
