import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpException, HttpStatus, Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { MemoryLocker, Server, type ServerOptions } from '@tus/server';
import { FileStore } from '@tus/file-store';
import { ERRORS, EVENTS, type Locker, type Upload } from '@tus/utils';
import { NodeRequest, sendNodeResponse } from 'srvx/node';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { ioredisClient } from '@echo/redis';
import { FieldErrorsException } from '@echo/http';
import type { AuthUser } from '@echo/users';
import { PayloadTooLargeException, UploadIntake } from '../intake/upload-intake.service.js';
import { sanitizeFileName } from '../intake/file-name.js';
import { RedisLocker } from './redis-locker.js';
import { TusStaging } from './tus-staging.js';
import { TusSlots } from './tus-slots.js';
import { tusErrorToDrf } from './tus-errors.js';
import { decodeTusId, encodeTusId, newTusId, ownerOfTusId, TUS_PATH } from './tus-ids.js';

const MAX_TITLE = 200;
const MAX_FILETYPE = 100;

/** The web Request @tus/server hands to hooks; on Node it carries the original request. */
type TusRequest = Parameters<NonNullable<ServerOptions['onIncomingRequest']>>[0];
const nodeOf = (req: TusRequest) =>
  (req as { runtime?: { node?: { req: IncomingMessage; res: ServerResponse } } }).runtime?.node;

/**
 * Resumable uploads (tus 1.0: creation, creation-with-upload, creation-defer-length, termination,
 * expiration) on @tus/server with @tus/file-store in TUS_DIR. The signed-in user comes from the
 * global AuthGuard (run before the controller hands over); ids carry their owner, so another user's
 * id is 404. A finished upload goes through UploadIntake — the same pipeline as multipart — and
 * its staging files are removed whatever the outcome.
 */
@Injectable()
export class TusUploads implements OnModuleDestroy {
  private readonly logger = new Logger('TusUploads');
  private readonly server: Server;
  private readonly store: FileStore;
  private readonly locker: Locker;
  private readonly users = new WeakMap<IncomingMessage, AuthUser>();
  /** A termination's slot release, awaited before its 204 leaves (the client may create right after). */
  private readonly releases = new WeakMap<IncomingMessage, Promise<void>>();

  constructor(
    private readonly intake: UploadIntake,
    private readonly staging: TusStaging,
    private readonly slots: TusSlots,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.store = new FileStore({ directory: staging.dir, expirationPeriodInMilliseconds: staging.expiryMs });
    this.locker = config.redis.queue ? createRedisLocker(config) : new MemoryLocker();
    this.server = new Server({
      path: TUS_PATH,
      datastore: this.store,
      locker: this.locker,
      maxSize: config.uploads.maxBytes,
      // Same origins as the rest of the API (CORS_ORIGINS); @tus/server would answer `*` otherwise.
      allowedOrigins: config.http.corsOrigins.includes('*')
        ? undefined
        : (origin) => config.http.corsOrigins.includes(origin),
      exposedHeaders: ['X-Request-Id', 'Retry-After'],
      // Relative: a Host header never decides where the client sends its bytes.
      generateUrl: (_req, { path, id }) => `${path}/${encodeTusId(id)}`,
      getFileIdFromRequest: (_req, lastPath) => decodeTusId(lastPath),
      namingFunction: (req) => newTusId(this.userOf(req).id),
      onIncomingRequest: async (req, id) => {
        const user = this.userOf(req);
        if (ownerOfTusId(id) !== user.id) throw ERRORS.FILE_NOT_FOUND;
        if (req.method === 'PATCH') await this.checkDeclaredLength(user, req, id);
      },
      onUploadCreate: (req, upload) => this.onCreate(this.userOf(req), upload),
      onUploadFinish: (req, upload) => this.onFinish(req, upload),
      onResponseError: (req, err) => this.toResponse(req, err),
    });
    // Emitted once a DELETE removed the files.
    this.server.on(EVENTS.POST_TERMINATE, (req: TusRequest, _res: Response, id: string) => {
      const node = nodeOf(req);
      const released = this.slots.release(id);
      if (node) this.releases.set(node.req, released);
    });
  }

  /** Serves one tus request for `user` (authenticated; none only for OPTIONS) on the raw Node request/response. */
  async handle(req: IncomingMessage, res: ServerResponse, user: AuthUser | undefined): Promise<void> {
    if (user) this.users.set(req, user);
    // Server.handle() without its last step, so error bodies can be labelled as the JSON they are.
    const response = await this.server.handleWeb(new NodeRequest({ req, res }));
    await this.releases.get(req);
    await sendNodeResponse(res, response.status >= 400 ? await asDrfJson(response) : response);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.locker instanceof RedisLocker) await this.locker.close();
  }

  private userOf(req: TusRequest): AuthUser {
    const node = nodeOf(req);
    const user = node && this.users.get(node.req);
    if (!user) throw new Error('tus request without an authenticated user'); // the controller always sets one
    return user;
  }

  /**
   * Creation: a slot under the per-user cap on unfinished uploads (taken here, atomically: the info
   * file is written only after this hook), the quota, and metadata (only hints, bounded).
   */
  private async onCreate(user: AuthUser, upload: Upload): Promise<{ metadata: Record<string, string> }> {
    if (!(await this.slots.reserve(user.id, upload.id, await this.staging.pendingIds(user.id)))) {
      const error = new HttpException(
        `Too many unfinished uploads (limit ${this.config.uploads.tus.maxPendingPerUser}): finish or delete one first.`,
        HttpStatus.TOO_MANY_REQUESTS,
      );
      throw Object.assign(error, { retryAfter: 60 });
    }
    try {
      return await this.checkCreation(user, upload);
    } catch (err) {
      await this.slots.release(upload.id);
      throw err;
    }
  }

  private async checkCreation(user: AuthUser, upload: Upload): Promise<{ metadata: Record<string, string> }> {
    if (upload.size !== undefined) await this.intake.assertFits(user.id, upload.size);
    const given = upload.metadata ?? {};
    const title = (given.title ?? '').trim();
    if (title.length > MAX_TITLE)
      throw new FieldErrorsException({ title: [`Ensure this field has no more than ${MAX_TITLE} characters.`] });
    const metadata: Record<string, string> = {};
    const filename = sanitizeFileName(given.filename ?? undefined);
    if (filename) metadata.filename = filename;
    if (given.filetype) metadata.filetype = given.filetype.slice(0, MAX_FILETYPE);
    if (title) metadata.title = title;
    return { metadata };
  }

  /**
   * The last byte arrived: the file goes through the intake pipeline under the upload's lock (a
   * second "final" PATCH or a DELETE waits, then finds it gone), and the answer is the upload object
   * as POST /api/uploads gives it. Staging files are removed in every case: a rejected file leaves
   * nothing behind, and a client that lost this answer and starts again lands on the duplicate.
   */
  private async onFinish(
    req: TusRequest,
    upload: Upload,
  ): Promise<{ status_code: number; headers: Record<string, string>; body: string }> {
    const user = this.userOf(req);
    const lock = this.locker.newLock(upload.id);
    await lock.lock(new AbortController().signal, () => undefined); // the pipeline is bounded: it finishes, then unlocks
    const cleanUp = async () => {
      await this.store.remove(upload.id).catch(() => undefined);
      await this.slots.release(upload.id);
      await lock.unlock();
    };
    // A creation-with-upload POST reads the upload back after this hook (for Upload-Expires): there
    // the files go, and the lock is released, once the response is out.
    const node = nodeOf(req);
    const res = req.method === 'POST' && node && !node.res.closed ? node.res : undefined;
    if (res) res.once('close', () => void cleanUp());
    try {
      const current = await this.store.getUpload(upload.id); // FILE_NOT_FOUND if another request finished it
      if (current.size === undefined || current.offset !== current.size) throw ERRORS.INVALID_OFFSET;
      const meta = current.metadata ?? {};
      const path = current.storage?.path ?? `${this.staging.dir}/${upload.id}`;
      const result = await this.intake.ingest(user.id, createReadStream(path), meta.filename ?? '', meta.title ?? '');
      const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8' };
      // tus clients need a creation's Location even when the answer is 200 (a duplicate).
      if (res) headers.Location = `${TUS_PATH}/${encodeTusId(upload.id)}`;
      return { status_code: result.status, headers, body: JSON.stringify(result.body) };
    } finally {
      if (!res) await cleanUp();
    }
  }

  /**
   * creation-defer-length: the length a PATCH declares meets the quota check creation applies to a
   * length given up front (same 413). Over UPLOAD_MAX_BYTES is left to @tus/server's own 413, as at
   * creation; a length already declared is its 400.
   */
  private async checkDeclaredLength(user: AuthUser, req: TusRequest, id: string): Promise<void> {
    const header = req.headers.get('upload-length');
    if (header === null || !/^\d{1,16}$/.test(header)) return;
    const size = Number(header);
    if (size > this.config.uploads.maxBytes) return;
    const upload = await this.store.getUpload(id).catch(() => undefined); // unknown: tus answers 404
    if (upload?.sizeIsDeferred) await this.intake.assertFits(user.id, size);
  }

  /** Errors leave in the API's DRF shape (JSON body; Retry-After where it applies). */
  private toResponse(req: TusRequest, err: unknown): { status_code: number; body: string } {
    const tooLarge = err === ERRORS.ERR_MAX_SIZE_EXCEEDED;
    const error = tusErrorToDrf(
      tooLarge
        ? new PayloadTooLargeException(`File too large: the limit is ${this.config.uploads.maxBytes} bytes.`)
        : err,
    );
    if (error.unexpected)
      this.logger.error({
        msg: 'tus request failed',
        err: err instanceof Error ? { message: err.message, stack: err.stack } : err,
      });
    // Extra headers (Retry-After) go on the Node response: Node merges them into the final writeHead.
    const res = nodeOf(req)?.res;
    if (res && !res.headersSent) for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
    return { status_code: error.status, body: JSON.stringify(error.body) };
  }
}

/**
 * A tus error response as JSON: the hooks' errors already have a DRF body (see toResponse), but a
 * web Response labels any string text/plain; the few answers @tus/server writes itself before any
 * hook (412 without Tus-Resumable, 400 for a malformed header) are plain text: wrapped as {"detail"}.
 */
async function asDrfJson(response: Response): Promise<Response> {
  const text = await response.text();
  let body = text;
  try {
    JSON.parse(text);
  } catch {
    body = JSON.stringify({ detail: text.trim() || 'Error.' });
  }
  const headers = new Headers(response.headers);
  headers.set('content-type', 'application/json; charset=utf-8');
  headers.set('content-length', String(Buffer.byteLength(body)));
  return new Response(body, { status: response.status, headers });
}

function createRedisLocker(config: AppConfig): RedisLocker {
  // The queue's Redis: it runs with noeviction, so a lock is never evicted under memory pressure.
  const options = { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 };
  const topology = config.redis.queue!;
  const redis = ioredisClient(topology, options);
  const subscriber = ioredisClient(topology, {
    ...options,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    shardedSubscribers: true,
  });
  redis.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  return new RedisLocker(redis, subscriber, { prefix: `${config.queue.prefix}:tus` });
}
