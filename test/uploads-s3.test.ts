import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { register, type Session } from './support/users.js';
import { multipart, solidPng } from './support/images.js';
import { S3_CREDENTIALS, startLoopbackS3 } from './support/s3.js';
import { waitFor } from './support/wait.js';
import { uniquePrefix } from './support/services.js';

/** The whole upload path with STORAGE_DRIVER=s3, against an S3 server on loopback. */
describe.skipIf(!servicesUp())('uploads on S3 storage (s3rver)', () => {
  let s3: Awaited<ReturnType<typeof startLoopbackS3>>;
  let stack: TestStack;
  let client: S3Client;
  let user: Session;

  beforeAll(async () => {
    s3 = await startLoopbackS3('echo-uploads');
    stack = await startStack(
      'uploads_s3',
      {
        STORAGE_DRIVER: 's3',
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: s3.endpoint,
        S3_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
        S3_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
        TUS_DIR: `.data/test-tus/${uniquePrefix('s3')}`,
      },
      { worker: true },
    );
    client = new S3Client({
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3_CREDENTIALS,
    });
    user = await register(stack.api, 's3');
  });
  afterAll(async () => {
    client?.destroy();
    await stack?.close();
    await s3?.close();
  });

  const exists = (key: string) =>
    client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key })).then(
      () => true,
      () => false,
    );

  it('stores the object under <user>/<id>, serves the same bytes, makes a thumbnail, and deletes both', async () => {
    const png = await solidPng(400, 300, '#884422');
    const form = multipart([{ name: 'file', filename: 'a.png', data: png }]);
    const res = await stack.api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...user.auth, ...form.headers },
      payload: form.payload,
    });
    expect(res.statusCode).toBe(201);
    const up = res.json();
    expect(up.sha256).toBe(createHash('sha256').update(png).digest('hex'));
    expect(await exists(`${user.id}/${up.id}`)).toBe(true);
    expect(await exists(`tmp/${up.id}`)).toBe(false);

    const file = await stack.api.inject({ method: 'GET', url: `/api/uploads/${up.id}/file`, headers: user.auth });
    expect(file.rawPayload.equals(png)).toBe(true);
    const range = await stack.api.inject({
      method: 'GET',
      url: `/api/uploads/${up.id}/file`,
      headers: { ...user.auth, range: 'bytes=0-9' },
    });
    expect(range.rawPayload.equals(png.subarray(0, 10))).toBe(true);

    await waitFor(
      async () =>
        (await stack.api.inject({ method: 'GET', url: `/api/uploads/${up.id}/thumbnail`, headers: user.auth }))
          .statusCode === 200,
      20_000,
      'thumbnail',
    );
    expect(await exists(`thumbs/${user.id}/${up.id}.webp`)).toBe(true);

    const del = await stack.api.inject({ method: 'DELETE', url: `/api/uploads/${up.id}`, headers: user.auth });
    expect(del.statusCode).toBe(204);
    expect(await exists(`${user.id}/${up.id}`)).toBe(false);
    expect(await exists(`thumbs/${user.id}/${up.id}.webp`)).toBe(false);
  });

  it('a resumable (tus) upload, sent in two PATCHes, lands under <user>/<id> like a multipart one', async () => {
    await stack.api.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(stack.api.getHttpServer().address() as { port: number }).port}`;
    const png = await solidPng(200, 100, '#224488');
    const headers = { ...user.auth, 'tus-resumable': '1.0.0' };
    const created = await fetch(`${base}/api/uploads/tus`, {
      method: 'POST',
      headers: { ...headers, 'upload-length': String(png.length) },
    });
    expect(created.status).toBe(201);
    const url = `${base}${created.headers.get('location')}`;
    const chunk = (offset: number, body: Buffer) =>
      fetch(url, {
        method: 'PATCH',
        headers: { ...headers, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
        body,
      });
    expect((await chunk(0, png.subarray(0, 100))).status).toBe(204);
    const last = await chunk(100, png.subarray(100));
    expect(last.status).toBe(201);
    const up = (await last.json()) as { id: string; sha256: string };
    expect(up.sha256).toBe(createHash('sha256').update(png).digest('hex'));
    expect(await exists(`${user.id}/${up.id}`)).toBe(true);
    expect(await exists(`tmp/${up.id}`)).toBe(false);
  });

  it('a rejected upload leaves no object behind', async () => {
    const form = multipart([
      {
        name: 'file',
        filename: 'a.jpg',
        data: Buffer.from('not an image, just some words to fill the sniffing window'),
      },
    ]);
    const res = await stack.api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...user.auth, ...form.headers },
      payload: form.payload,
    });
    expect(res.statusCode).toBe(415);
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'tmp/' }));
    expect(listed.KeyCount ?? 0).toBe(0);
  });

  it('the sweeper removes thumbnails whose upload is gone once past the minimum age, and keeps the rest', async () => {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const { UploadsService } = await import('@echo/uploads');
    const form = multipart([{ name: 'file', filename: 'k.png', data: await solidPng(50, 40, '#335577') }]);
    const res = await stack.api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...user.auth, ...form.headers },
      payload: form.payload,
    });
    expect(res.statusCode).toBe(201);
    const kept = `thumbs/${user.id}/${res.json().id}.webp`;
    await waitFor(() => exists(kept), 20_000, 'thumbnail');
    const orphan = `thumbs/${user.id}/${crypto.randomUUID()}.webp`;
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: orphan, Body: Buffer.from('webp') }));
    const sweeper = stack.api.get(UploadsService);

    // S3 cannot back-date an object: first the default minimum age (an hour) keeps the fresh orphan,
    // then a cut-off in the future stands for "an hour later".
    expect((await sweeper.sweepOrphans()).thumbnails).toBe(0);
    expect(await exists(orphan)).toBe(true);
    expect((await sweeper.sweepOrphans(new Date(Date.now() + 60_000))).thumbnails).toBe(1);
    expect(await exists(orphan)).toBe(false);
    expect(await exists(kept)).toBe(true);
  });
});
