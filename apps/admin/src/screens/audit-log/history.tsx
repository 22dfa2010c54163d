import { useEffect, useRef, useState } from 'preact/hooks';
import { api, unwrap } from '../../api/client';
import { cursorOf } from '../../components/cursor-pager';
import { AuditTable, type AuditEntry } from './audit-entries';
import { mergeSources, type Source } from './merge';

/** One target whose entries the History lists (an audit-log `target_type` + `target_id` filter). */
export interface HistoryTarget {
  type: 'user' | 'upload' | 'analysis';
  id: string;
}

const PAGE = 20;

async function readPage(target: HistoryTarget, cursor: string): Promise<Source<AuditEntry>> {
  const list = unwrap(
    await api.GET('/api/admin/audit-log', {
      // Cursor mode (an empty cursor starts it): no COUNT, and "older" is a keyset read.
      params: { query: { target_type: target.type, target_id: target.id, cursor, page_size: PAGE } },
    }),
  );
  return { entries: list.results, next: cursorOf(list.next) };
}

/**
 * A target's entries in the audit log, newest first: a user's, or an upload's together with its
 * analyses' (one filter per target, merged in order). "Show older" reads the next page of the
 * filter the list is waiting on. `reloadKey` changes after an action on this screen, so the entry
 * it wrote shows up. `links` point to the Audit log screen with the same filters (every page).
 */
export function History(props: {
  targets: HistoryTarget[];
  reloadKey?: unknown;
  links?: Array<{ href: string; label: string }>;
}) {
  const [sources, setSources] = useState<Array<Source<AuditEntry>> | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const key = JSON.stringify(props.targets);
  const latest = useRef(0);

  useEffect(() => {
    const call = ++latest.current;
    setBusy(true);
    Promise.all(props.targets.map((t) => readPage(t, ''))).then(
      (loaded) => call === latest.current && (setSources(loaded), setError(''), setBusy(false)),
      (err: Error) => call === latest.current && (setError(err.message), setBusy(false)),
    );
  }, [key, props.reloadKey]);

  const merged = sources ? mergeSources(sources) : null;
  const older = async () => {
    if (!sources || !merged) return;
    const call = ++latest.current;
    setBusy(true);
    try {
      const next = await Promise.all(
        sources.map(async (s, i) => {
          if (!merged.waiting.includes(i) || s.next === null) return s;
          const page = await readPage(props.targets[i], s.next);
          return { entries: [...s.entries, ...page.entries], next: page.next };
        }),
      );
      if (call === latest.current) setSources(next);
    } catch (err) {
      if (call === latest.current) setError((err as Error).message);
    } finally {
      if (call === latest.current) setBusy(false);
    }
  };

  return (
    <section class="history" aria-labelledby="history-heading">
      <div class="list-head">
        <h2 id="history-heading">History</h2>
        {props.links?.length ? (
          <span class="history-links">
            {props.links.map((link) => (
              <a key={link.href} href={link.href}>
                {link.label}
              </a>
            ))}
          </span>
        ) : null}
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {merged && (
        <>
          <AuditTable entries={merged.shown} caption="History" busy={busy} empty="No admin action recorded." />
          {merged.waiting.length > 0 && (
            <p>
              <button type="button" disabled={busy} onClick={older}>
                Show older
              </button>
            </p>
          )}
        </>
      )}
      {!merged && !error && <p aria-busy="true">Loading…</p>}
    </section>
  );
}
