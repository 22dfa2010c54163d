/** The token of an `Authorization: Bearer <token>` header (the one parser every credential check uses). */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string' || header.length > 4096) return undefined;
  const match = /^bearer +([^ ]+) *$/i.exec(header);
  return match?.[1];
}
