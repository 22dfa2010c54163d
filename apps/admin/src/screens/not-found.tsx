export function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        Nothing here. The queue dashboard (bull-board) lives at <code>/admin/queues</code> and needs Redis; without it
        Echo runs its analyses in-process and has no dashboard.
      </p>
      <p>
        <a href="/admin">Back to the overview</a>
      </p>
    </section>
  );
}
