import { useLocation } from 'preact-iso';

/**
 * A screen's filters and page live in the URL (shareable, back button works): `params` reads
 * them, `update` writes a new history entry with the changed ones (empty values removed).
 */
export function useUrlState(): {
  params: Record<string, string>;
  update: (changes: Record<string, string | number | undefined>) => void;
} {
  const location = useLocation();
  const update = (changes: Record<string, string | number | undefined>) => {
    const next = new URLSearchParams(location.query);
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined || value === '') next.delete(key);
      else next.set(key, String(value));
    }
    const query = next.toString();
    // The same URL again (a field committed twice) is no new history entry.
    if (query === new URLSearchParams(location.query).toString()) return;
    location.route(query ? `${location.path}?${query}` : location.path);
  };
  return { params: location.query, update };
}

export const pageOf = (value: string | undefined) => Math.max(1, Number.parseInt(value ?? '1', 10) || 1);
