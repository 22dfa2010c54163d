/** Server-side paging (DRF pages): previous / next, "page x of y" and the total. */
export function Pager(props: { count: number; page: number; pageSize: number; onPage: (page: number) => void }) {
  const pages = Math.max(1, Math.ceil(props.count / props.pageSize));
  return (
    <nav class="pager" aria-label="Pagination">
      <button type="button" disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>
        ← Previous
      </button>
      <span>
        Page {props.page} of {pages} · {props.count} total
      </span>
      <button type="button" disabled={props.page >= pages} onClick={() => props.onPage(props.page + 1)}>
        Next →
      </button>
    </nav>
  );
}
