import { api, unwrap } from '../../api/client';
import { Thumb } from '../../components/thumb';
import { useAsync } from '../../components/use-async';

/** The first page is enough for a glance; the API orders nearest first. */
const SIMILAR_PAGE = 12;

/**
 * "Similar": the owner's other uploads nearest this one by pHash (GET /api/admin/uploads/{id}/similar),
 * a strip of thumbnails with their distance, each linking to its screen. A 404 (an API without
 * the route, or none for this upload) leaves no trace on the screen.
 */
export function SimilarStrip(props: { id: string }) {
  const similar = useAsync(async () => {
    const result = await api.GET('/api/admin/uploads/{id}/similar', {
      params: { path: { id: props.id }, query: { page_size: SIMILAR_PAGE } },
    });
    if (result.response.status === 404) return null;
    return unwrap(result);
  }, [props.id]);

  const page = similar.data;
  // Loading, or hidden: nothing rather than a heading that may vanish.
  if (!similar.error && !page) return null;
  const more = page && page.count !== undefined ? page.count - page.results.length : 0;
  return (
    <section class="similar" aria-labelledby="similar-heading">
      <h2 id="similar-heading">Similar</h2>
      {similar.error && (
        <p role="alert" class="error">
          {similar.error}
        </p>
      )}
      {page &&
        (page.results.length ? (
          <ul class="strip" aria-label="Similar uploads">
            {page.results.map((u) => {
              const name = u.title || u.original_name || u.id.slice(0, 8);
              return (
                <li key={u.id}>
                  <a href={`/admin/uploads/${u.id}`} title={`${name}: pHash distance ${u.distance} of 64 bits`}>
                    <Thumb
                      src={u.analysis?.status === 'completed' ? u.thumbnail_url : undefined}
                      alt={`similar: ${name}`}
                      fallback={u.analysis?.status}
                    />
                    <span class="caption">
                      <span class="name">{name}</span>
                      <small>distance {u.distance}</small>
                    </span>
                  </a>
                </li>
              );
            })}
          </ul>
        ) : (
          <p>No similar uploads.</p>
        ))}
      {more > 0 && (
        <p class="muted">
          The {SIMILAR_PAGE} nearest of {page!.count}.
        </p>
      )}
    </section>
  );
}
