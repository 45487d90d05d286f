// DOTRANK_API_KEY: every route but the health probes needs the key, as `x-api-key: <key>`,
// `Authorization: ApiKey <key>` or `Authorization: Bearer <key>`.
import { timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** True when the `Authorization` header carried the dotrank key (the proxy then does not forward it). */
    dotrankAuthByAuthorization: boolean;
  }
}

export interface AuthPluginOptions {
  /** The key; without one every route is open. */
  apiKey?: string;
  /** Paths open without the key (default `/healthz`, `/readyz`, `/dashboard`). */
  publicPaths?: readonly string[];
  /**
   * Path prefixes open without the key (default `/dashboard/`): the dashboard's files hold no data, and a browser
   * cannot send a header when it opens a page; the dashboard then asks for the key and sends it on its API calls.
   */
  publicPrefixes?: readonly string[];
}

const AUTHORIZATION_SCHEMES = ['ApiKey', 'Bearer'];

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The key from `Authorization: ApiKey|Bearer <key>`, if the header has that form. */
function keyFromAuthorization(request: FastifyRequest): string | undefined {
  const header = request.headers['authorization'];
  if (typeof header !== 'string') return undefined;
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space);
  return space > 0 && AUTHORIZATION_SCHEMES.some((s) => s.toLowerCase() === scheme.toLowerCase())
    ? header.slice(space + 1).trim()
    : undefined;
}

const UNAUTHORIZED = {
  error: 'unauthorized',
  field: 'x-api-key',
  message:
    'x-api-key: missing or wrong API key (send x-api-key: <key>, Authorization: Bearer <key> or Authorization: ApiKey <key>)',
};

const authPlugin: FastifyPluginAsync<AuthPluginOptions> = async (
  app,
  { apiKey, publicPaths = ['/healthz', '/readyz', '/dashboard'], publicPrefixes = ['/dashboard/'] },
) => {
  app.decorateRequest('dotrankAuthByAuthorization', false);
  if (!apiKey) return;
  const open = new Set(publicPaths);
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    if (open.has(path) || publicPrefixes.some((prefix) => path.startsWith(prefix))) return;
    const header = request.headers['x-api-key'];
    if (typeof header === 'string' && sameSecret(header, apiKey)) return;
    const fromAuthorization = keyFromAuthorization(request);
    if (fromAuthorization !== undefined && sameSecret(fromAuthorization, apiKey)) {
      request.dotrankAuthByAuthorization = true;
      return;
    }
    return reply.code(401).header('www-authenticate', 'Bearer, ApiKey').send(UNAUTHORIZED);
  });
};

/** Checks the API key on every request of the whole server (so it is registered at the root). */
export default fp(authPlugin, { name: 'dotrank-auth', fastify: '5.x' });
