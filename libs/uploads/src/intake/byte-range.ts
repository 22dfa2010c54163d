import fresh from 'fresh';
import { parse } from 'range-parser';

/**
 * A single `Range: bytes=…` request (RFC 9110), parsed by range-parser. Several ranges are
 * answered with the whole file (allowed by the RFC), as is an unparseable header or another unit;
 * a valid range that lies past the end of the file is 416.
 */
export function parseByteRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const { code, type, ranges } = parse(size, header.trim());
  // code bit 1: a malformed element, which makes the whole header ignorable (RFC 9110 §14.2).
  if (type !== 'bytes' || code & 1) return undefined;
  if (ranges.length === 0) return 'unsatisfiable';
  return ranges.length === 1 ? { start: ranges[0].start, end: ranges[0].end } : undefined;
}

/** True when If-None-Match names this ETag (weak comparison) or is `*`: the client's copy is current. */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  return fresh({ 'if-none-match': header }, { etag });
}
