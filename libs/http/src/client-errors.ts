import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

const ANSWERS: Record<string, { status: number; detail: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, detail: 'Request timeout: the request did not arrive in time.' },
  HPE_HEADER_OVERFLOW: { status: 431, detail: 'Request header fields too large.' },
};
const MALFORMED = { status: 400, detail: 'Malformed HTTP request.' };

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before any route sees it (bytes
 * past the body its Content-Length announced, a broken request line or header, a request that
 * timed out) is answered in DRF's shape, `{"detail": …}`, instead of Fastify's
 * `{"error","message","statusCode"}`. Then the connection is closed: the parser cannot resync.
 * Like Node's own handler, nothing is written once an in-flight response has begun on the socket.
 */
export function drfClientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, detail } = ANSWERS[err.code ?? ''] ?? MALFORMED;
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify({ detail });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
