import { isIP } from 'node:net';
import { BadRequestException } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Deeper JSON is refused before anything walks it (a 100k-deep body overflowed the stack: 500). */
export const MAX_JSON_DEPTH = 32;

/**
 * Nesting depth of a JSON text, stopping as soon as it passes `max`. A linear scan of the bytes
 * before parsing: no JSON library here bounds depth before building the whole tree.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** The JSON body parser: depth-checked, then Fastify's own (prototype-poisoning safe) parser. */
export function depthLimitedJsonParser(fastify: FastifyInstance) {
  const parse = fastify.getDefaultJsonParser('error', 'error');
  return (request: FastifyRequest, body: Buffer | string, done: (err: Error | null, value?: unknown) => void): void => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH))
      return done(new BadRequestException(`JSON nested deeper than ${MAX_JSON_DEPTH} levels.`));
    parse(request, text, done);
  };
}

/** Compressed request bodies are refused: decoding them would sidestep the body and upload limits. */
export async function refuseContentEncoding(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const encoding = request.headers['content-encoding'];
  if (encoding === undefined || encoding.trim().toLowerCase() === 'identity') return;
  await reply
    .code(415)
    .send({ detail: 'Compressed request bodies (Content-Encoding) are not supported: send the body uncompressed.' });
}

/**
 * A Host (or X-Forwarded-Host) value split into name and port, or undefined when it is not
 * `name[:digits]` or `[ipv6][:digits]` — Django's host_validation_re. Without this check
 * `localhost:x@evil.example` was read as `localhost` with port `x@evil.example`, and links built
 * from it pointed at evil.example. The name is lower-cased, a trailing dot dropped (as Django does).
 */
export function parseHost(host: string): { name: string; port: string } | undefined {
  const match = /^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(?::([0-9]{1,5}))?$/.exec(host.toLowerCase());
  if (!match) return undefined;
  const [, rawName, port = ''] = match;
  if (port && Number(port) > 65535) return undefined;
  if (rawName.startsWith('[') && isIP(rawName.slice(1, -1)) !== 6) return undefined;
  const name = rawName.endsWith('.') ? rawName.slice(0, -1) : rawName;
  if (!name || name.length > 253) return undefined;
  return { name, port };
}

/** Hosts matched like Django's ALLOWED_HOSTS: exact, `.example.com` for it and its subdomains, `*` any. */
export function hostAllowed(host: string, allowed: string[]): boolean {
  const name = parseHost(host)?.name;
  if (!name) return false;
  return allowed.some(
    (pattern) =>
      pattern === '*' ||
      pattern === name ||
      (pattern.startsWith('.') && (name.endsWith(pattern) || name === pattern.slice(1))),
  );
}

// Probes and scrapers address the process by its IP; these routes build no links.
const HOST_EXEMPT = /^\/(health(\/ready)?|metrics)(\?|$)/;

/** 400 for a Host (or trusted X-Forwarded-Host) that is not one of ALLOWED_HOSTS. */
export function hostGuard(allowed: string[]) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (HOST_EXEMPT.test(request.url) || hostAllowed(request.host ?? '', allowed)) return;
    const shown = String(request.host ?? '').slice(0, 100);
    await reply
      .code(400)
      .send({ detail: `Invalid HTTP_HOST header: '${shown}'. You may need to add it to ALLOWED_HOSTS.` });
  };
}
