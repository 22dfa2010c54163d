import type { Schemas } from '../../api/client';
import { formatDate } from '../../components/format';

/** Status, progress, attempts, timing and the failure reason of one analysis; retry when failed. */
export function AnalysisStatus(props: {
  analysis: Schemas['AdminAnalysisResponse'] | Schemas['AnalysisResponse'];
  onRetry?: () => Promise<void>;
}) {
  const a = props.analysis;
  return (
    <div class="analysis-status">
      <p>
        <span class={`badge ${a.status}`} aria-label="Analysis status">
          {a.status}
        </span>{' '}
        {a.status === 'processing' && <progress max={100} value={a.progress} aria-label="Progress" />} attempts{' '}
        {a.attempts} · created {formatDate(a.created_at)}
        {a.completed_at && <> · finished {formatDate(a.completed_at)}</>}
      </p>
      {a.error && (
        <p class="error">
          <strong>Reason:</strong> {a.error}
        </p>
      )}
      {props.onRetry && (
        <button type="button" class="primary" onClick={props.onRetry}>
          Retry analysis
        </button>
      )}
    </div>
  );
}
