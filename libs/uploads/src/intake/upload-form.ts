import { BadRequestException, HttpException, UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { MultipartFile } from '@fastify/multipart';
import { FieldErrorsException } from '@echo/http';
import { sanitizeFileName } from './file-name.js';
import { PayloadTooLargeException, type StagedFile, type UploadIntake } from './upload-intake.service.js';

const MAX_TITLE = 200;

/**
 * Reads the multipart form of POST /api/uploads: exactly one `file` part (streamed to storage
 * as it arrives) and an optional `title`. Any other part is a field error; whatever was staged
 * is removed on every failure path.
 */
export async function readUploadForm(
  req: FastifyRequest,
  uploads: Pick<UploadIntake, 'stage' | 'discard'>,
  maxBytes: number,
): Promise<{ staged: StagedFile; title: string }> {
  if (!req.isMultipart())
    throw new UnsupportedMediaTypeException('Unsupported media type: send multipart/form-data with a "file" field.');
  let staged: StagedFile | undefined;
  let title = '';
  const errors: Record<string, string[]> = {};
  try {
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file') errors[part.fieldname] = ['This field is not allowed.'];
        else if (staged) errors.file = ['Upload exactly one file per request.'];
        if (part.fieldname !== 'file' || staged) {
          await drain(part);
          continue;
        }
        staged = await uploads.stage(part.file, sanitizeFileName(part.filename));
      } else if (part.fieldname === 'title') {
        title = String(part.value ?? '').trim();
      } else {
        errors[part.fieldname] = ['This field is not allowed.'];
      }
    }
  } catch (err) {
    await uploads.discard(staged);
    throw multipartError(err, maxBytes);
  }
  if (title.length > MAX_TITLE) errors.title = [`Ensure this field has no more than ${MAX_TITLE} characters.`];
  if (!staged && !errors.file) errors.file = ['No file was submitted.'];
  if (Object.keys(errors).length || !staged) {
    await uploads.discard(staged);
    throw new FieldErrorsException(errors);
  }
  return { staged, title };
}

// busboy's errors carry no code, only these messages.
const BUSBOY_COMPLAINT = /boundary|unexpected end|malformed|part header|multipart/i;

/**
 * What reading the form failed on, for the client: the multipart parser's complaints (no or
 * unterminated boundary, bad part headers, too many parts) are the client's 400, not a 500.
 * Errors from storage (errno codes) and Echo's own HTTP errors pass through unchanged.
 */
function multipartError(err: unknown, maxBytes: number): unknown {
  if (err instanceof HttpException) return err;
  const { code, message } = err as { code?: string; message?: string };
  if (code === 'FST_REQ_FILE_TOO_LARGE')
    return new PayloadTooLargeException(`File too large: the limit is ${maxBytes} bytes.`);
  if (code?.startsWith('FST_') || (code === undefined && BUSBOY_COMPLAINT.test(message ?? ''))) {
    return new BadRequestException(`Malformed multipart body: ${String(message ?? 'unreadable').slice(0, 200)}`);
  }
  return err;
}

async function drain(part: MultipartFile): Promise<void> {
  for await (const _ of part.file) void _;
}
