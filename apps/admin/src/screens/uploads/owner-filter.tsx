import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../../api/client';
import { Field, controlAttrs } from '../../components/filter-field';

const SUGGESTIONS = 8;
const TYPING_PAUSE_MS = 250;

/**
 * The owner filter: the URL holds the API's `user_id`; the admin types a username (suggested as
 * they type from the users' prefix search), an email, or a user id (`42` or `#42`). A name that
 * matches no account is said so next to the field, and the list stays as it was. `name` and
 * `label` make it another user filter (the audit log's `actor_id`, "Actor").
 */
export function OwnerFilter(props: {
  userId: string | undefined;
  /** The API's messages for `user_id` (e.g. not a number). */
  errors?: string[];
  onChange: (userId: string) => void;
  name?: string;
  label?: string;
}) {
  const name = props.name ?? 'user_id';
  const [label, setLabel] = useState<string>('');
  const [problem, setProblem] = useState<string | undefined>();
  const [options, setOptions] = useState<string[]>([]);
  const typing = useRef<ReturnType<typeof setTimeout>>();
  const asked = useRef(0);

  // The owner a URL names, by name (a deep link or back/forward); the number if there is none.
  useEffect(() => {
    setProblem(undefined);
    const id = Number(props.userId);
    if (!props.userId) return setLabel('');
    setLabel(props.userId);
    if (!Number.isInteger(id) || id < 1) return;
    let current = true;
    void api.GET('/api/admin/users/{id}', { params: { path: { id } } }).then(({ data, response }) => {
      if (!current) return;
      if (data) setLabel(data.username);
      else if (response.status === 404) setProblem(`No user #${id}.`);
    });
    return () => void (current = false);
  }, [props.userId]);

  const suggest = (text: string) => {
    clearTimeout(typing.current);
    const prefix = text.trim();
    if (!prefix || /^#?\d+$/.test(prefix)) return setOptions([]);
    typing.current = setTimeout(async () => {
      const call = ++asked.current;
      const { data } = await api.GET('/api/admin/users', {
        params: { query: { search: prefix, ordering: 'username', page_size: SUGGESTIONS } },
      });
      if (call === asked.current && data) setOptions(data.results.map((u) => u.username));
    }, TYPING_PAUSE_MS);
  };

  const commit = async (text: string) => {
    const value = text.trim();
    setProblem(undefined);
    if (!value) return props.onChange('');
    const number = /^#?(\d+)$/.exec(value);
    if (number) return props.onChange(number[1]);
    // Prefix search, shortest usernames first: an exact name is the first of its prefix.
    const { data, error } = await api.GET('/api/admin/users', {
      params: { query: { search: value, ordering: 'username', page_size: 20 } },
    });
    if (!data) return setProblem(typeof error === 'object' ? 'The user search failed.' : String(error));
    const lower = value.toLowerCase();
    const match = data.results.find((u) => u.username.toLowerCase() === lower || u.email.toLowerCase() === lower);
    if (match) {
      setLabel(match.username);
      props.onChange(String(match.id));
    } else setProblem(`No user named “${value}”.`);
  };

  const errors = problem ? [problem] : props.errors;
  return (
    <Field name={name} label={props.label ?? 'Owner'} errors={errors}>
      <input
        {...controlAttrs(name, errors)}
        type="search"
        list={`${name}-suggestions`}
        placeholder="username, email or id"
        autoComplete="off"
        maxLength={150}
        size={20}
        key={label}
        defaultValue={label}
        onInput={(e) => suggest(e.currentTarget.value)}
        onChange={(e) => void commit(e.currentTarget.value)}
        onKeyDown={(e) => {
          // Enter applies this field alone (the bar's own submit applies the text search fields).
          if (e.key !== 'Enter') return;
          e.preventDefault();
          void commit(e.currentTarget.value);
        }}
      />
      <datalist id={`${name}-suggestions`}>
        {options.map((name) => (
          <option key={name} value={name} />
        ))}
      </datalist>
    </Field>
  );
}
