import { api, unwrap } from '../../api/client';
import type { operations } from '../../api/schema';
import { Pager } from '../../components/pager';
import { formatDate } from '../../components/format';
import { useAsync } from '../../components/use-async';
import { pageOf, useUrlState } from '../../components/url-state';

type UsersQuery = NonNullable<operations['AdminUsersController_list']['parameters']['query']>;

const ORDERINGS: Array<[string, string]> = [
  ['-date_joined', 'Newest first'],
  ['date_joined', 'Oldest first'],
  ['username', 'Username A–Z'],
  ['-username', 'Username Z–A'],
  ['delete_after', 'Deletion soonest'],
];
const PAGE_SIZES = [25, 50, 100, 200];

/** Echo's admin user list: server-side pages, filters, prefix search and ordering, all in the URL. */
export function Users() {
  const { params, update } = useUrlState();
  const page = pageOf(params.page);
  const pageSize = PAGE_SIZES.includes(Number(params.page_size)) ? Number(params.page_size) : 25;
  const users = useAsync(
    async () =>
      unwrap(
        await api.GET('/api/admin/users', {
          params: {
            query: {
              page: String(page),
              page_size: pageSize,
              search: params.search || undefined,
              role: (params.role || undefined) as UsersQuery['role'],
              is_active: params.is_active ? params.is_active === 'true' : undefined,
              deletion_scheduled: params.deletion_scheduled ? params.deletion_scheduled === 'true' : undefined,
              ordering: (params.ordering || undefined) as UsersQuery['ordering'],
            },
          },
        }),
      ),
    [page, pageSize, params.search, params.role, params.is_active, params.deletion_scheduled, params.ordering],
  );

  const search = (event: Event) => {
    event.preventDefault();
    const value = String(new FormData(event.currentTarget as HTMLFormElement).get('search') ?? '').trim();
    update({ search: value, page: undefined });
  };

  return (
    <section>
      <h1>Users</h1>
      <div class="filters">
        <form role="search" onSubmit={search}>
          <label>
            Search
            <input
              name="search"
              type="search"
              placeholder="username or email prefix"
              defaultValue={params.search ?? ''}
              key={params.search ?? ''}
              maxLength={150}
            />
          </label>
          <button type="submit">Search</button>
        </form>
        <label>
          Status
          <select
            value={params.is_active ?? ''}
            onChange={(e) => update({ is_active: e.currentTarget.value, page: undefined })}
          >
            <option value="">Any</option>
            <option value="true">Active</option>
            <option value="false">Inactive</option>
          </select>
        </label>
        <label>
          Deletion
          <select
            value={params.deletion_scheduled ?? ''}
            onChange={(e) => update({ deletion_scheduled: e.currentTarget.value, page: undefined })}
          >
            <option value="">Any</option>
            <option value="true">Scheduled</option>
            <option value="false">Not scheduled</option>
          </select>
        </label>
        <label>
          Role
          <select value={params.role ?? ''} onChange={(e) => update({ role: e.currentTarget.value, page: undefined })}>
            <option value="">Any</option>
            <option value="user">User</option>
            <option value="admin">Admin</option>
          </select>
        </label>
        <label>
          Order
          <select
            value={params.ordering ?? '-date_joined'}
            onChange={(e) =>
              update({
                ordering: e.currentTarget.value === '-date_joined' ? undefined : e.currentTarget.value,
                page: undefined,
              })
            }
          >
            {ORDERINGS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Per page
          <select
            value={String(pageSize)}
            onChange={(e) =>
              update({ page_size: e.currentTarget.value === '25' ? undefined : e.currentTarget.value, page: undefined })
            }
          >
            {PAGE_SIZES.map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      {users.error && (
        <p role="alert" class="error">
          {users.error}
        </p>
      )}
      {users.data && (
        <>
          <div class="table-wrap">
            <table aria-busy={users.loading}>
              <caption class="visually-hidden">Users</caption>
              <thead>
                <tr>
                  <th scope="col">Username</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Joined</th>
                </tr>
              </thead>
              <tbody>
                {users.data.results.map((user) => (
                  <tr key={user.id}>
                    <td>
                      <a href={`/admin/users/${user.id}`}>{user.username}</a>
                    </td>
                    <td>{user.email}</td>
                    <td>{user.role}</td>
                    <td>
                      {user.delete_after ? (
                        <span class="badge off">deletion {formatDate(user.delete_after)}</span>
                      ) : user.is_active ? (
                        'active'
                      ) : (
                        <span class="badge off">inactive</span>
                      )}
                    </td>
                    <td>{formatDate(user.date_joined)}</td>
                  </tr>
                ))}
                {!users.data.results.length && (
                  <tr>
                    <td colSpan={5}>No users match.</td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          <Pager
            count={users.data.count ?? 0}
            page={page}
            pageSize={pageSize}
            onPage={(p) => update({ page: p === 1 ? undefined : p })}
          />
        </>
      )}
    </section>
  );
}
