// The query-string parser: strict about percent-encoding, so `q=%FF%FE` (not UTF-8) is refused naming `q` instead
// of being searched as two replacement characters.
import { ValidationError } from '@dotrank/core';

const NOT_UTF8 = Symbol('fields whose percent-decoded value is not UTF-8');

type ParsedQuery = Record<string, string | string[]> & { [NOT_UTF8]?: string[] };

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Parses `a=1&b=2&b=3` like Fastify's default (a repeated name gives an array). A part that does not decode to
 * UTF-8 is kept aside, named, for {@link assertQueryDecoded}: a parser cannot answer the request itself.
 */
export function parseQueryString(text: string): ParsedQuery {
  // no prototype, so `__proto__=x` is a plain field (as in Fastify's default parser)
  const query = Object.create(null) as ParsedQuery;
  for (const part of text.split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const rawName = equals === -1 ? part : part.slice(0, equals);
    const name = decode(rawName) ?? rawName;
    const value = decode(equals === -1 ? '' : part.slice(equals + 1));
    if (value === undefined) {
      (query[NOT_UTF8] ??= []).push(name);
      continue;
    }
    const previous = query[name];
    query[name] = previous === undefined ? value : ([] as string[]).concat(previous, value);
  }
  return query;
}

/** Refuses a request whose query string had a value that is not UTF-8 once percent-decoded (400 naming it). */
export function assertQueryDecoded(query: unknown): void {
  const invalid = (query as ParsedQuery | undefined)?.[NOT_UTF8];
  if (invalid?.length) throw new ValidationError(invalid[0]!, 'is not valid UTF-8 once percent-decoded');
}
