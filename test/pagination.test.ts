import { Controller, Get, Module, Query } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { ApiProperty } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import {
  Column,
  DataSource,
  Entity,
  PrimaryGeneratedColumn,
  type Logger as TypeOrmLogger,
  type Repository,
} from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigModule, loadConfig } from '@echo/config';
import { buildDataSourceOptions } from '@echo/database';
import { createValidationPipe, DrfExceptionFilter } from '@echo/http';
import { PageParams, PageQueryDto, Paginated, paginate, parsePageRequest, type PageRequest } from '@echo/pagination';
import { createTestDatabase } from './support/services.js';

// Set by test/support/global-setup.ts; with REQUIRE_SERVICES=1 a missing MariaDB fails the run there.
const mysqlUp = process.env.ECHO_TEST_MYSQL === '1';

@Entity('page_items')
class PageItem {
  @PrimaryGeneratedColumn({ type: 'int' })
  id: number;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt: Date;

  @Column({ type: 'varchar', length: 32 })
  tag: string;
}

class ItemDto {
  @ApiProperty() id: number;
  @ApiProperty() createdAt: string;
  @ApiProperty() tag: string;
}

class ItemQueryDto extends PageQueryDto {
  @IsOptional()
  @IsString()
  tag?: string;
}

@Controller('items')
class ItemsController {
  constructor(@InjectRepository(PageItem) private readonly items: Repository<PageItem>) {}

  @Get()
  @Paginated(ItemDto)
  list(@Query() query: ItemQueryDto, @PageParams() pageRequest: PageRequest) {
    const qb = this.items.createQueryBuilder('item');
    if (query.tag) qb.where('item.tag = :tag', { tag: query.tag });
    return paginate(qb, pageRequest);
  }
}

/** Records every SQL statement so the keyset query can be EXPLAINed as the lib wrote it. */
class RecordingLogger implements TypeOrmLogger {
  readonly queries: { sql: string; parameters: unknown[] }[] = [];
  logQuery(sql: string, parameters?: unknown[]): void {
    this.queries.push({ sql, parameters: parameters ?? [] });
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

describe('parsePageRequest (DRF PageNumberPagination rules)', () => {
  it.each([
    [{}, { mode: 'page', page: 1, size: 50 }],
    [{ page: '3' }, { mode: 'page', page: 3, size: 50 }],
    [{ page_size: '10' }, { mode: 'page', page: 1, size: 10 }],
    [{ page_size: '500' }, { mode: 'page', page: 1, size: 200 }],
    [{ page_size: '200' }, { mode: 'page', page: 1, size: 200 }],
    [{ page_size: 'abc' }, { mode: 'page', page: 1, size: 50 }],
    [{ page_size: '0' }, { mode: 'page', page: 1, size: 50 }],
    [{ page_size: '-5' }, { mode: 'page', page: 1, size: 50 }],
    [{ page_size: '10abc' }, { mode: 'page', page: 1, size: 50 }],
    [{ page: ['2', '5'] }, { mode: 'page', page: 2, size: 50 }],
    [{ page: '' }, { mode: 'page', page: 1, size: 50 }],
    [
      { page: 'last', page_size: '20' },
      { mode: 'page', page: -1, size: 20 },
    ],
    [{ cursor: '' }, { mode: 'cursor', size: 50, position: null }],
  ])('%j → %j', (query, expected) => {
    expect(parsePageRequest(query)).toEqual(expected);
  });

  it.each(['0', '-1', 'abc', '1.5', '1e3', '99999999999999999999', 'first'])('page=%j is 404 Invalid page.', (page) => {
    expect(() => parsePageRequest({ page })).toThrowError('Invalid page.');
  });

  it.each([
    'garbage',
    '!!!',
    Buffer.from('[1,2]').toString('base64url'),
    Buffer.from('[1,2,"x"]').toString('base64url'),
    Buffer.from('[1e300,1,"n"]').toString('base64url'),
    Buffer.from('[1,"x","n"]').toString('base64url'),
  ])('cursor=%j is 404 Invalid cursor.', (cursor) => {
    expect(() => parsePageRequest({ cursor })).toThrowError('Invalid cursor.');
  });
});

describe.skipIf(!mysqlUp)('pagination over HTTP on MariaDB', () => {
  let app: NestFastifyApplication;
  let dataSource: DataSource;
  let drop: () => Promise<void>;
  const logger = new RecordingLogger();
  const BASE = new Date('2024-01-01T00:00:00.000Z').getTime();

  async function get(url: string) {
    const res = await app.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() as Record<string, any> };
  }

  /** Inserts rows with created_at BASE + offsets (ms); several rows share a timestamp so the id tie-break matters. */
  async function insert(rows: { offsetMs: number; tag: string }[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await dataSource.query(
        `INSERT INTO page_items (created_at, tag) VALUES ${chunk.map(() => '(?, ?)').join(', ')}`,
        chunk.flatMap((r) => [new Date(BASE + r.offsetMs), r.tag]),
      );
    }
  }

  /** Every row in the order the API must list them: created_at DESC, id DESC. */
  async function expectedOrder(tag?: string): Promise<number[]> {
    const rows = (await dataSource.query(
      `SELECT id FROM page_items ${tag ? 'WHERE tag = ?' : ''} ORDER BY created_at DESC, id DESC`,
      tag ? [tag] : [],
    )) as { id: number }[];
    return rows.map((r) => Number(r.id));
  }

  const ids = (body: Record<string, any>) => (body.results as { id: number }[]).map((r) => r.id);
  const path = (url: string) => {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  };

  beforeAll(async () => {
    const db = await createTestDatabase('pagination');
    drop = db.drop;
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: db.url });
    @Module({
      imports: [
        ConfigModule.forRoot(config),
        TypeOrmModule.forRoot({
          ...buildDataSourceOptions(config, [PageItem]),
          logging: ['query'],
          logger,
          maxQueryExecutionTime: undefined,
        }),
        TypeOrmModule.forFeature([PageItem]),
      ],
      controllers: [ItemsController],
    })
    class PaginationTestModule {}

    const moduleRef = await Test.createTestingModule({ imports: [PaginationTestModule] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ logger: false }), {
      logger: false,
    });
    app.setGlobalPrefix('api');
    app.useGlobalPipes(createValidationPipe());
    app.useGlobalFilters(new DrfExceptionFilter());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    dataSource = app.get(DataSource);
    await dataSource.query(`
      CREATE TABLE page_items (
        id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        created_at DATETIME(3) NOT NULL,
        tag VARCHAR(32) NOT NULL,
        KEY idx_page_items_created_id (created_at, id)
      ) ENGINE=InnoDB`);
  });

  afterAll(async () => {
    await app?.close();
    await drop?.();
  });

  beforeEach(async () => {
    await dataSource.query('TRUNCATE TABLE page_items');
  });

  describe('page numbers', () => {
    beforeEach(async () => {
      // 120 rows: 3 per timestamp, tags alternating red/blue.
      await insert(
        Array.from({ length: 120 }, (_, i) => ({ offsetMs: Math.floor(i / 3) * 1000, tag: i % 2 ? 'red' : 'blue' })),
      );
    });

    it('defaults: page 1 of 50, count, absolute next, previous null', async () => {
      const { status, body } = await get('/api/items');
      expect(status).toBe(200);
      expect(Object.keys(body).sort()).toEqual(['count', 'next', 'previous', 'results']);
      expect(body.count).toBe(120);
      expect(body.results).toHaveLength(50);
      expect(body.next).toBe('http://localhost/api/items?page=2');
      expect(body.previous).toBeNull();
      expect(ids(body)).toEqual((await expectedOrder()).slice(0, 50));
      expect(body.results[0]).toEqual({
        id: expect.any(Number),
        createdAt: expect.any(String),
        tag: expect.any(String),
      });
    });

    it('clamps page_size=500 to 200', async () => {
      const { status, body } = await get('/api/items?page_size=500');
      expect(status).toBe(200);
      expect(body.results).toHaveLength(120);
      expect(body.next).toBeNull();
      await insert(Array.from({ length: 100 }, (_, i) => ({ offsetMs: -1000 - i, tag: 'old' })));
      const more = await get('/api/items?page_size=500');
      expect(more.body.count).toBe(220);
      expect(more.body.results).toHaveLength(200);
      expect(more.body.next).toBe('http://localhost/api/items?page_size=500&page=2');
    });

    it.each(['abc', '0', '-3', ''])('falls back to 50 for page_size=%j', async (size) => {
      const { status, body } = await get(`/api/items?page_size=${size}`);
      expect(status).toBe(200);
      expect(body.results).toHaveLength(50);
    });

    it.each(['0', 'abc', '-1', '2.5'])('page=%j is 404 {"detail":"Invalid page."}', async (page) => {
      const res = await get(`/api/items?page=${page}`);
      expect(res).toEqual({ status: 404, body: { detail: 'Invalid page.' } });
    });

    it('an empty ?page= is page 1, as in DRF', async () => {
      const { status, body } = await get('/api/items?page=&page_size=10');
      expect(status).toBe(200);
      expect(ids(body)).toEqual((await expectedOrder()).slice(0, 10));
      expect(body.next).toBe('http://localhost/api/items?page=2&page_size=10');
    });

    it('a page beyond the last is 404 {"detail":"Invalid page."}', async () => {
      expect((await get('/api/items?page=3')).status).toBe(200);
      expect(await get('/api/items?page=4')).toEqual({ status: 404, body: { detail: 'Invalid page.' } });
      expect(await get('/api/items?page=13&page_size=10')).toEqual({ status: 404, body: { detail: 'Invalid page.' } });
    });

    it('the last page has next null and the rest of the rows', async () => {
      const { body } = await get('/api/items?page=3');
      expect(body.count).toBe(120);
      expect(body.next).toBeNull();
      expect(body.previous).toBe('http://localhost/api/items?page=2');
      expect(ids(body)).toEqual((await expectedOrder()).slice(100));
    });

    it('the link back to page 1 drops page and keeps the rest', async () => {
      const { body } = await get('/api/items?page_size=10&page=2&tag=red');
      expect(body.previous).toBe('http://localhost/api/items?page_size=10&tag=red');
      expect(body.next).toBe('http://localhost/api/items?page_size=10&page=3&tag=red');
    });

    it('next keeps the filter and the pages cover the filtered rows exactly once', async () => {
      const expected = await expectedOrder('red');
      expect(expected).toHaveLength(60);
      const seen: number[] = [];
      let url: string | null = '/api/items?tag=red&page_size=25';
      let pages = 0;
      while (url) {
        const { status, body } = await get(url);
        expect(status).toBe(200);
        expect(body.count).toBe(60);
        expect((body.results as { tag: string }[]).every((r) => r.tag === 'red')).toBe(true);
        seen.push(...ids(body));
        if (body.next) expect(new URL(body.next).searchParams.get('tag')).toBe('red');
        url = body.next ? path(body.next) : null;
        pages++;
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(expected);
    });

    it('a list shorter than one page: every row and its count on page 1', async () => {
      const { status, body } = await get('/api/items?page_size=200');
      expect(status).toBe(200);
      expect(body.count).toBe(120);
      expect(body.next).toBeNull();
      expect(ids(body)).toEqual(await expectedOrder());
    });

    it('page=last is the last page', async () => {
      const { status, body } = await get('/api/items?page=last&page_size=50');
      expect(status).toBe(200);
      expect(body.next).toBeNull();
      expect(ids(body)).toEqual((await expectedOrder()).slice(100));
    });

    it('rejects unknown query parameters through the global ValidationPipe', async () => {
      const res = await get('/api/items?colour=red');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ colour: ['This field is not allowed.'] });
    });
  });

  it('page 1 of an empty list is 200 with count 0', async () => {
    expect(await get('/api/items')).toEqual({
      status: 200,
      body: { count: 0, next: null, previous: null, results: [] },
    });
    expect(await get('/api/items?page=2')).toEqual({ status: 404, body: { detail: 'Invalid page.' } });
  });

  describe('cursor (keyset) mode', () => {
    beforeEach(async () => {
      // 95 rows, 5 per timestamp: pages of 10 split groups of equal created_at.
      await insert(
        Array.from({ length: 95 }, (_, i) => ({ offsetMs: Math.floor(i / 5) * 10, tag: i % 3 ? 'a' : 'b' })),
      );
    });

    async function walk(start: string, direction: 'next' | 'previous' = 'next') {
      const pages: { ids: number[]; body: Record<string, any> }[] = [];
      let url: string | null = start;
      while (url && pages.length < 100) {
        const { status, body } = await get(url);
        expect(status).toBe(200);
        pages.push({ ids: ids(body), body });
        url = body[direction] ? path(body[direction]) : null;
      }
      return pages;
    }

    it('?cursor= starts at the newest; following next walks every row once in (created_at desc, id desc) order', async () => {
      const first = await get('/api/items?cursor=&page_size=10');
      expect(first.status).toBe(200);
      expect(Object.keys(first.body).sort()).toEqual(['next', 'previous', 'results']);
      expect(first.body.previous).toBeNull();
      expect(first.body.next).toMatch(/^http:\/\/localhost\/api\/items\?cursor=[A-Za-z0-9_-]+&page_size=10$/);

      const pages = await walk('/api/items?cursor=&page_size=10');
      expect(pages).toHaveLength(10);
      expect(pages.flatMap((p) => p.ids)).toEqual(await expectedOrder());
      expect(pages.at(-1)!.ids).toHaveLength(5);
      expect(pages.at(-1)!.body.next).toBeNull();
      expect(pages.slice(1).every((p) => p.body.previous !== null)).toBe(true);
    });

    it('keeps other query parameters (filter) in cursor links', async () => {
      const pages = await walk('/api/items?tag=a&cursor=&page_size=7');
      expect(pages.flatMap((p) => p.ids)).toEqual(await expectedOrder('a'));
      for (const p of pages) if (p.body.next) expect(new URL(p.body.next).searchParams.get('tag')).toBe('a');
    });

    it('previous goes back page by page to the start', async () => {
      const forward = await walk('/api/items?cursor=&page_size=10');
      const last = forward.at(-1)!;
      const backward = await walk(path(last.body.previous), 'previous');
      // From the last page back to the first, the same pages in reverse.
      expect(backward.map((p) => p.ids)).toEqual(
        forward
          .slice(0, -1)
          .map((p) => p.ids)
          .reverse(),
      );
      expect(backward.at(-1)!.body.previous).toBeNull();
      // And next from a page reached backwards continues forward correctly.
      const resumed = await get(path(backward[0].body.next));
      expect(ids(resumed.body)).toEqual(last.ids);
    });

    it('rows inserted while walking do not shift later pages (no duplicates, no skips)', async () => {
      const before = await expectedOrder();
      const seen: number[] = [];
      let url: string | null = '/api/items?cursor=&page_size=10';
      let step = 0;
      while (url) {
        const { body } = await get(url);
        seen.push(...ids(body));
        // Newer rows arrive between page requests, including one at the same timestamp as the newest row.
        await insert([
          { offsetMs: 100_000 + step, tag: 'new' },
          { offsetMs: 18 * 10, tag: 'new' },
        ]);
        url = body.next ? path(body.next) : null;
        step++;
      }
      expect(seen).toEqual(before);
      expect(new Set(seen).size).toBe(seen.length);

      // Going back from the second page now reveals newer rows: previous is no longer null.
      const pages = await walk('/api/items?cursor=&page_size=10');
      const second = await get(path(pages[0].body.next));
      const back = await get(path(second.body.previous));
      expect(ids(back.body)).toEqual(pages[0].ids);
      expect(back.body.previous).toBeNull();
    });

    it.each([
      'garbage',
      Buffer.from('{"a":1}').toString('base64url'),
      Buffer.from('[1704067200000,"x","n"]').toString('base64url'),
      Buffer.from('[1e300,1,"n"]').toString('base64url'),
    ])('cursor=%j is 404 {"detail":"Invalid cursor."}', async (cursor) => {
      expect(await get(`/api/items?cursor=${cursor}`)).toEqual({ status: 404, body: { detail: 'Invalid cursor.' } });
    });

    it('an empty list in cursor mode has no links', async () => {
      await dataSource.query('TRUNCATE TABLE page_items');
      expect(await get('/api/items?cursor=')).toEqual({
        status: 200,
        body: { next: null, previous: null, results: [] },
      });
    });

    it('the keyset query uses the (created_at, id) index, without a filesort', async () => {
      // Enough rows that a full scan would be the planner's choice if the index were unusable.
      await insert(Array.from({ length: 3000 }, (_, i) => ({ offsetMs: 1_000 + i * 7, tag: 'bulk' })));
      await dataSource.query('ANALYZE TABLE page_items');
      const first = await get('/api/items?cursor=&page_size=20');
      logger.queries.length = 0;
      const second = await get(path(first.body.next));
      expect(second.status).toBe(200);
      const keyset = logger.queries.find((q) => /FROM `page_items`/.test(q.sql) && /`created_at` </.test(q.sql));
      expect(keyset, `keyset query not found in ${JSON.stringify(logger.queries)}`).toBeDefined();
      const plan = (await dataSource.query(`EXPLAIN ${keyset!.sql}`, keyset!.parameters)) as {
        key: string | null;
        type: string;
        rows: number | string;
        Extra: string | null;
      }[];
      expect(plan).toHaveLength(1);
      expect(plan[0].key).toBe('idx_page_items_created_id');
      expect(plan[0].type).toBe('range');
      expect(plan[0].Extra ?? '').not.toMatch(/filesort/i);
    });
  });
});
