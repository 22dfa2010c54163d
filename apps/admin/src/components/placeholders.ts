import { api, unwrap } from '../api/client';

/**
 * The ThumbHash placeholders (base64) of a page of uploads, by upload id: one request for the
 * page's completed analyses (only those have one).
 */
export async function placeholdersFor(
  uploads: ReadonlyArray<{ id: string; analysis?: { status: string } | null }>,
): Promise<Map<string, string>> {
  const done = uploads.filter((u) => u.analysis?.status === 'completed').map((u) => u.id);
  const placeholders = new Map<string, string>();
  if (!done.length) return placeholders;
  const analyses = unwrap(
    await api.GET('/api/admin/visual-analysis', {
      params: { query: { upload_ids: done.join(','), status: 'completed', page_size: 200 } },
    }),
  );
  for (const a of analyses.results) {
    const hash = (a.result as { placeholder?: string } | null)?.placeholder;
    if (hash && !placeholders.has(a.upload_id)) placeholders.set(a.upload_id, hash);
  }
  return placeholders;
}
