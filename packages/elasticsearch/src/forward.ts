// The HTTP client the rerank proxy forwards with: one configured cluster, keep-alive, the credentials of
// `connectionSettings`, a whole-request timeout, and the response read as bytes so it can pass through unchanged.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import { ConfigError, DotrankError, UnavailableError } from '@dotrank/core';
import { DEFAULT_TIMEOUT_MS } from './connection.js';

/** Where forwarded requests go; `ConnectionSettings` (from `connectionSettings(config)`) is one. */
export interface ForwardTarget {
  /** Base URL of the cluster, e.g. http://127.0.0.1:9200 (a path prefix is kept). */
  url: string;
  /** `Authorization` header sent instead of the caller's (`ConnectionSettings.authorization`). */
  authorization?: string;
  /** PEM CA certificate(s) to trust for https. */
  ca?: string | Buffer;
  /** Whole-request timeout, ms (default 30000). */
  timeoutMs?: number;
}

export interface ForwardRequest {
  method: string;
  /** Path and query string as the caller sent them, e.g. `/cran/_search?typed_keys=true`. */
  path: string;
  headers: IncomingHttpHeaders;
  body?: Buffer;
  /** Aborts the forwarded request (e.g. when the caller went away). */
  signal?: AbortSignal;
}

export interface ForwardedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body exactly as the cluster sent it (still compressed when it was). */
  body: Buffer;
}

/** Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1), plus those set per hop here. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

/** The headers without hop-by-hop ones, including those the `Connection` header names. */
export function stripHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = new Set(
    String(headers['connection'] ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

const inflaters: Record<string, (b: Buffer) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

/** A response body without its `content-encoding`; undefined for an encoding it does not know or a corrupt body. */
export async function decodedBody(response: ForwardedResponse): Promise<Buffer | undefined> {
  const encoding = String(response.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase();
  if (encoding === 'identity' || encoding === '') return response.body;
  const inflate = inflaters[encoding];
  if (!inflate) return undefined;
  return inflate(response.body).catch(() => undefined);
}

/**
 * The request headers a caller may pass on to the cluster; every other one (cookies, `es-security-runas-user`,
 * `x-forwarded-*`, `x-api-key`, proxy and hop-by-hop headers, `content-encoding`, since bodies are forwarded
 * decoded) stays here. `authorization` is the caller's own cluster credential, used only when none is configured.
 */
export const FORWARDED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'accept',
  'accept-encoding',
  'authorization',
  'content-type',
  'traceparent',
  'tracestate',
  'user-agent',
  'x-elastic-client-meta',
  'x-opaque-id',
]);

/** The caller's headers the cluster may see: those of FORWARDED_REQUEST_HEADERS, minus those `Connection` names. */
export function forwardableHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(stripHopByHop(headers))) {
    if (value !== undefined && FORWARDED_REQUEST_HEADERS.has(name)) out[name] = value;
  }
  return out;
}

/** Sends requests to the one configured cluster; the caller's Host never reaches it, nor its credentials when some are configured. */
export class ForwardingClient {
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly timeoutMs: number;

  constructor(private readonly target: ForwardTarget) {
    try {
      this.base = new URL(target.url);
    } catch {
      throw new ConfigError('ELASTICSEARCH_URL', `not a valid URL (got ${JSON.stringify(target.url)})`);
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new ConfigError(
        'ELASTICSEARCH_URL',
        `must start with http:// or https:// (got ${JSON.stringify(target.url)})`,
      );
    }
    this.timeoutMs = target.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.agent =
      this.base.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, ...(target.ca ? { ca: target.ca } : {}) })
        : new HttpAgent({ keepAlive: true });
  }

  /** The cluster's origin, for log lines (never with credentials). */
  get origin(): string {
    return this.base.origin;
  }

  private outgoingHeaders(request: ForwardRequest): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = { ...forwardableHeaders(request.headers), host: this.base.host };
    // configured credentials win; without them the caller's own (if any) authenticate to the cluster
    if (this.target.authorization) headers['authorization'] = this.target.authorization;
    const { body, method } = request;
    if (body !== undefined && (body.length > 0 || method !== 'GET')) headers['content-length'] = body.length;
    return headers;
  }

  /**
   * Forwards one request and reads the whole answer. Rejects with UnavailableError('elasticsearch') when the
   * cluster cannot be reached, and DotrankError('timeout', field elasticsearch) when it does not answer in time.
   */
  send(request: ForwardRequest): Promise<ForwardedResponse> {
    const send = this.base.protocol === 'https:' ? httpsRequest : httpRequest;
    const path = this.base.pathname.replace(/\/$/, '') + request.path;
    return new Promise((resolve, reject) => {
      const req = send({
        protocol: this.base.protocol,
        hostname: this.base.hostname,
        port: this.base.port || undefined,
        method: request.method,
        path,
        headers: this.outgoingHeaders(request),
        agent: this.agent,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy();
      }, this.timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(this.forwardError(error, timedOut));
      };
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', fail);
      });
      req.on('error', fail);
      req.end(request.body && request.body.length > 0 && request.method !== 'HEAD' ? request.body : undefined);
    });
  }

  private forwardError(error: Error, timedOut: boolean): Error {
    if (timedOut)
      return new DotrankError(
        'timeout',
        `${this.origin} did not answer within ${this.timeoutMs} ms (ELASTICSEARCH_TIMEOUT_MS)`,
        { field: 'elasticsearch' },
      );
    if (error.name === 'AbortError') return error;
    const why = (error as NodeJS.ErrnoException).code ?? error.message;
    return new UnavailableError('elasticsearch', `cannot reach ${this.origin} (${why})`, { cause: error });
  }

  close(): void {
    this.agent.destroy();
  }
}
