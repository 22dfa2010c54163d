import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { expect } from 'vitest';
import type { Session } from './users.js';

/** The keys of an upload object on the wire (POST/GET /api/uploads, the tus finish). */
export const UPLOAD_KEYS = [
  'analysis',
  'content_type',
  'created_at',
  'file_url',
  'height',
  'id',
  'original_name',
  'preview_url',
  'sha256',
  'size',
  'taken_at',
  'thumbnail_url',
  'title',
  'user_id',
  'width',
];

/** POST /api/uploads with a multipart form (see images.ts `multipart`), expecting 201; the upload object. */
export async function postUpload(
  api: NestFastifyApplication,
  session: Session,
  form: { payload: Buffer; headers: Record<string, string> },
) {
  const res = await api.inject({
    method: 'POST',
    url: '/api/uploads',
    headers: { ...session.auth, ...form.headers },
    payload: form.payload,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}
