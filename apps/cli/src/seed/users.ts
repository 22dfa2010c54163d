import type { DataSource } from 'typeorm';
import { User } from '@echo/users';
import { DAY_MS, insertRows, sqlDate } from './insert-rows.js';
import { pick } from './random.js';

export interface Person {
  id: number;
  role: 'user' | 'admin';
  active: boolean;
  joined: number;
}

const FIRST = [
  'james',
  'mary',
  'john',
  'patricia',
  'robert',
  'jennifer',
  'michael',
  'linda',
  'david',
  'elizabeth',
  'william',
  'barbara',
  'richard',
  'susan',
  'joseph',
  'jessica',
  'thomas',
  'sarah',
  'carlos',
  'karen',
  'wei',
  'yuki',
  'aarav',
  'fatima',
  'olga',
  'lucas',
  'sofia',
  'mateo',
  'amara',
  'liam',
  'noah',
  'emma',
  'olivia',
  'ava',
  'mia',
  'hiro',
  'priya',
  'omar',
  'ines',
  'leo',
  'nina',
  'ivan',
  'chloe',
  'zoe',
  'kai',
  'ana',
  'jonas',
  'lea',
  'sven',
  'maya',
];
const LAST = [
  'smith',
  'johnson',
  'williams',
  'brown',
  'jones',
  'garcia',
  'miller',
  'davis',
  'rodriguez',
  'martinez',
  'hernandez',
  'lopez',
  'gonzalez',
  'wilson',
  'anderson',
  'thomas',
  'taylor',
  'moore',
  'jackson',
  'martin',
  'lee',
  'nguyen',
  'kim',
  'chen',
  'wang',
  'patel',
  'singh',
  'tanaka',
  'sato',
  'muller',
  'schmidt',
  'rossi',
  'dubois',
  'silva',
  'santos',
  'kowalski',
  'novak',
  'ivanova',
  'haddad',
  'okafor',
  'larsen',
  'berg',
  'costa',
  'fischer',
  'weber',
  'cohen',
  'murphy',
  'kelly',
];
const DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example.com', 'photos.example.org'];

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

function username(first: string, last: string, rand: () => number, i: number): string {
  const n = Math.floor(rand() * 100);
  switch (Math.floor(rand() * 5)) {
    case 0:
      return `${first}.${last}`;
    case 1:
      return `${first}_${last}${n}`;
    case 2:
      return `${first[0]}${last}${1970 + (i % 40)}`;
    case 3:
      return `${first}${last}`;
    default:
      return `${first}.${last[0]}${n}`;
  }
}

/** `total` users (the first few admins, ~5 % inactive), inserted in batches of `batch`. */
export async function insertUsers(
  ds: DataSource,
  total: number,
  hash: string,
  rand: () => number,
  now: number,
  batch: number,
): Promise<Person[]> {
  const admins = Math.max(1, Math.min(5, Math.round(total / 2000)));
  const taken = new Set<string>();
  const people: Person[] = [];
  let rows: Partial<Record<keyof User, unknown>>[] = [];
  for (let i = 0; i < total; i++) {
    const first = pick(FIRST, rand);
    const last = pick(LAST, rand);
    const admin = i < admins;
    let name = admin ? `admin.${first}` : username(first, last, rand, i);
    // Unique case-insensitively (all lower-case; the index collation is _ci). On a clash, `.<row>`:
    // no generated base ends in `.<digits>`, so suffixed names cannot clash again.
    if (taken.has(name)) name = `${name}.${i}`;
    taken.add(name);
    const id = i + 1;
    const active = admin || rand() >= 0.05;
    // Joined 1–3 years ago, so every upload (within the last year) comes after it.
    const joined = now - 365 * DAY_MS * (1 + 2 * rand());
    const lastLogin = rand() < 0.7 ? now - 60 * DAY_MS * rand() : null;
    people.push({ id, role: admin ? 'admin' : 'user', active, joined });
    rows.push({
      id,
      username: name,
      email: `${name}@${pick(DOMAINS, rand)}`,
      passwordHash: hash,
      displayName: rand() < 0.6 ? `${cap(first)} ${cap(last)}` : '',
      role: admin ? 'admin' : 'user',
      isActive: active ? 1 : 0,
      dateJoined: sqlDate(joined),
      lastLogin: lastLogin === null ? null : sqlDate(lastLogin),
    });
    if (rows.length >= batch) {
      await insertRows(ds, User, rows);
      rows = [];
    }
  }
  await insertRows(ds, User, rows);
  return people;
}
