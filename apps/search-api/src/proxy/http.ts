// The proxy's HTTP plumbing: reading request bodies (also those Fastify did not parse, and compressed ones),
// forwarding to the cluster with the caller's allowed headers, and writing responses with the cluster's headers.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProxyError, stripHopByHop } from '@dotrank/elasticsearch';
import type { ForwardedResponse, ForwardingClient } from '@dotrank/elasticsearch';

/** Who a proxied search is made for: the caller's headers as they may reach the cluster. */
export interface Caller {
  /** The caller's headers, without dotrank's own key (never forwarded). */
  headers: IncomingHttpHeaders;
  /** A hash of the caller's own cluster credential when it is what authenticates (no credentials configured). */
  credential: string | null;
}

/** The caller of a request: its headers minus `x-api-key` and, when it carried dotrank's key, `authorization`. */
export function callerOf(request: FastifyRequest, configuredAuthorization: boolean): Caller {
  const headers = { ...request.headers };
  delete headers['x-api-key'];
  if (request.dotrankAuthByAuthorization) delete headers['authorization'];
  const own = headers['authorization'];
  const credential =
    !configuredAuthorization && typeof own === 'string' ? createHash('sha256').update(own).digest('hex') : null;
  return { headers, credential };
}

/** The content type of a JSON search body sent on the caller's behalf (compatible-with kept when asked for). */
export function jsonContentType(headers: IncomingHttpHeaders): string {
  const asked = String(headers['content-type'] ?? '');
  const compatible = /compatible-with=(\d+)/.exec(asked);
  return compatible ? `application/vnd.elasticsearch+json; compatible-with=${compatible[1]}` : 'application/json';
}

/** Sends one request to the cluster; its refusals (unreachable, too slow) become Elasticsearch-shaped 502/504s. */
export async function forwardTo(
  forwarder: ForwardingClient,
  caller: Caller,
  method: string,
  path: string,
  body: Buffer | undefined,
  contentType?: string,
): Promise<ForwardedResponse> {
  const headers = { ...caller.headers };
  if (contentType) headers['content-type'] = contentType;
  try {
    return await forwarder.send({ method, path, headers, ...(body && method !== 'HEAD' ? { body } : {}) });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason = `dotrank proxy: ${(error as Error).message}`;
    if (code === 'timeout') throw new ProxyError(504, 'timeout_exception', reason);
    if (code === 'unavailable') throw new ProxyError(502, 'connect_exception', reason);
    throw error;
  }
}

/** Writes a response with the cluster's headers (minus hop-by-hop ones) and `body`. */
export function send(reply: FastifyReply, upstream: ForwardedResponse, body: Buffer = upstream.body): FastifyReply {
  const headers = stripHopByHop(upstream.headers);
  if (body !== upstream.body) delete headers['content-encoding'];
  reply.code(upstream.status);
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) reply.header(name, value);
  reply.header('content-length', body.length);
  return reply.send(body);
}

const inflaters: Record<string, (b: Buffer) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

/** The request body, read (a GET with a body is not parsed by Fastify) and decompressed, at most `limit` bytes. */
export async function requestBody(request: FastifyRequest, limit: number): Promise<Buffer> {
  const raw = Buffer.isBuffer(request.body) ? request.body : await readRaw(request, limit);
  const encoding = String(request.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase();
  if (encoding === 'identity' || encoding === '' || raw.length === 0) return raw;
  const inflateBody = inflaters[encoding];
  if (!inflateBody)
    throw new ProxyError(415, 'illegal_argument_exception', `dotrank proxy: content-encoding ${encoding} is not read`);
  const body = await inflateBody(raw).catch(() => {
    throw new ProxyError(400, 'illegal_argument_exception', `dotrank proxy: the ${encoding} request body is corrupt`);
  });
  if (body.length > limit)
    throw new ProxyError(413, 'content_too_long_exception', `dotrank proxy: the request body is over ${limit} bytes`);
  return body;
}

/** The body of a request Fastify did not parse (a GET with a body), up to `limit` bytes. */
function readRaw(request: FastifyRequest, limit: number): Promise<Buffer> {
  const raw = request.raw;
  if (raw.readableEnded || raw.method === 'HEAD') return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // keep reading (and dropping) the rest, so the client gets its 413 instead of a reset connection
      raw.off('data', onData);
      raw.resume();
      reject(Object.assign(new Error('body too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }));
    };
    raw.on('data', onData);
    raw.on('end', () => resolve(Buffer.concat(chunks)));
    raw.on('error', reject);
  });
}
