import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';

/** Where the signed download route lives (ExportDownloadController); relative to the API's origin. */
export const EXPORT_DOWNLOAD_PATH = '/api/media/exports';

const HKDF_LABEL = 'echo export url v1';

/**
 * The signed `download_url` of a finished export, usable without an Authorization header (a
 * browser download, a download manager resuming with Range): HMAC-SHA256 over (export id, expiry),
 * as media URLs (libs/uploads MediaUrls) but with a key of its own (HKDF with another label, from
 * MEDIA_URL_SECRET or else JWT_SECRET): no media or token signature is ever valid here. The expiry
 * is the export's `expires_at`, so the URL lives exactly as long as the archive.
 */
@Injectable()
export class ExportUrls {
  private readonly key: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.key = Buffer.from(hkdfSync('sha256', config.media.urlSecret ?? config.auth.jwtSecret, '', HKDF_LABEL, 32));
  }

  url(id: string, expiresAt: Date): string {
    const exp = Math.floor(expiresAt.getTime() / 1000);
    return `${EXPORT_DOWNLOAD_PATH}/${id}?exp=${exp}&sig=${this.hmac(`${id}\n${exp}`)}`;
  }

  /** True when `sig` signs (id, exp) and exp has not passed. Inputs are untrusted. */
  verify(id: string, exp: unknown, sig: unknown, nowMs = Date.now()): boolean {
    if (typeof exp !== 'string' || typeof sig !== 'string') return false;
    if (!/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return false;
    const expiry = Number(exp);
    if (expiry * 1000 <= nowMs) return false;
    return timingSafeEqual(Buffer.from(this.hmac(`${id}\n${expiry}`)), Buffer.from(sig));
  }

  private hmac(message: string): string {
    return createHmac('sha256', this.key).update(message).digest('base64url');
  }
}
