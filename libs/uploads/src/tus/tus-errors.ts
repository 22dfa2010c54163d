import { HttpException, HttpStatus } from '@nestjs/common';
import { ERRORS } from '@tus/utils';
import { toDrfError, type DrfError } from '@echo/http';

/** Something @tus/server throws (its ERRORS) or a hook threw in its shape. */
interface TusError {
  status_code: number;
  body: string;
}

const isTusError = (err: unknown): err is TusError =>
  typeof err === 'object' &&
  err !== null &&
  typeof (err as TusError).status_code === 'number' &&
  typeof (err as TusError).body === 'string';

/**
 * Every tus error response in Echo's DRF shape ({"detail": …}), like the rest of the API. The
 * protocol's own texts become the detail; a lock that stays busy is 423 (retry), not tus' 500.
 */
export function tusErrorToDrf(err: unknown): DrfError {
  if (err === ERRORS.ERR_LOCK_TIMEOUT) {
    return {
      status: HttpStatus.LOCKED,
      body: { detail: 'This upload is busy with another request; retry shortly.' },
      headers: { 'retry-after': '1' },
      unexpected: false,
    };
  }
  if (isTusError(err) && !(err instanceof HttpException)) {
    if (err === ERRORS.UNKNOWN_ERROR || err === ERRORS.FILE_WRITE_ERROR)
      return { ...toDrfError(err), unexpected: true };
    const detail = err.body.trim() || 'Error.';
    return {
      status: err.status_code,
      body: { detail: detail.endsWith('.') ? detail : `${detail}.` },
      headers: {},
      unexpected: false,
    };
  }
  return toDrfError(err);
}
