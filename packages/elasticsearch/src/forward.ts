// The HTTP client the rerank proxy forwards with: the configured cluster's nodes in turn with failover, keep-alive, the credentials of
// `connectionSettings`, a whole-request timeout, and the response read as bytes so it can pass through unchanged.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Agent as HttpsAgent } from 'node:https';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import { ConfigError, DotrankError, UnavailableError } from '@dotrank/core';
import { DEFAULT_TIMEOUT_MS, createHttpsAgent } from './connection.js';

/** Where forwarded requests go; `ConnectionSettings` (from `connectionSettings(config)`) is one. */
export interface ForwardTarget {
  /** Base URL of the cluster, e.g. http://127.0.0.1:9200 (a path prefix is kept). */
  url: string;
  /** `Authorization` header sent instead of the caller's (`ConnectionSettings.authorization`). */
  authorization?: string;
  /** Every node of the cluster (ELASTICSEARCH_URL as a comma list); requests are spread over them. Default `[url]`. */
  urls?: string[];
  /** PEM CA certificate(s) to trust for https. */
  ca?: string | Buffer;
  /** SHA-256 fingerprint of the CA the cluster's certificate chain must hold (ELASTICSEARCH_CA_FINGERPRINT). */
  caFingerprint?: string;
  /** ELASTICSEARCH_TLS_INSECURE: no certificate check (development only). */
  tlsInsecure?: boolean;
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

/** A request that got no answer from one node (refused, reset, unreachable): the next node may answer it. */
class NodeUnreachable extends Error {
  constructor(
    readonly node: URL,
    readonly why: string,
    override readonly cause: Error,
  ) {
    super(`${node.origin} (${why})`);
  }
}

/**
 * Sends requests to the configured cluster: spread over its nodes (ELASTICSEARCH_URL as a comma list) in turn, each
 * request tried on the next node when one cannot be reached (never when one answered, even with an error status);
 * https with the CA file, CA fingerprint pin or insecure mode of `connectionSettings`. The caller's Host never reaches
 * the cluster, nor its credentials when some are configured.
 */
export class ForwardingClient {
  private readonly nodes: URL[];
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent | undefined;
  private readonly timeoutMs: number;
  private turn = 0;

  constructor(private readonly target: ForwardTarget) {
    const urls = target.urls && target.urls.length > 0 ? target.urls : [target.url];
    this.nodes = urls.map((url) => {
      let node: URL;
      try {
        node = new URL(url);
      } catch {
        throw new ConfigError('ELASTICSEARCH_URL', `not a valid URL (got ${JSON.stringify(url)})`);
      }
      if (node.protocol !== 'http:' && node.protocol !== 'https:') {
        throw new ConfigError('ELASTICSEARCH_URL', `must start with http:// or https:// (got ${JSON.stringify(url)})`);
      }
      return node;
    });
    this.timeoutMs = target.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.httpAgent = new HttpAgent({ keepAlive: true });
    const ca = typeof target.ca === 'string' ? Buffer.from(target.ca) : target.ca;
    this.httpsAgent = this.nodes.some((node) => node.protocol === 'https:')
      ? createHttpsAgent(
          {
            ...(ca ? { ca } : {}),
            ...(target.caFingerprint ? { caFingerprint: target.caFingerprint } : {}),
            ...(target.tlsInsecure ? { tlsInsecure: true } : {}),
          },
          { keepAlive: true },
        )
      : undefined;
  }

  /** The cluster's node origins, for log lines (never with credentials). */
  get origin(): string {
    return this.nodes.map((node) => node.origin).join(', ');
  }

  private outgoingHeaders(node: URL, request: ForwardRequest): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = { ...forwardableHeaders(request.headers), host: node.host };
    // configured credentials win; without them the caller's own (if any) authenticate to the cluster
    if (this.target.authorization) headers['authorization'] = this.target.authorization;
    const { body, method } = request;
    if (body !== undefined && (body.length > 0 || method !== 'GET')) headers['content-length'] = body.length;
    return headers;
  }

  /**
   * Forwards one request and reads the whole answer, from the next node in turn, or the one after it when that one
   * cannot be reached. Rejects with UnavailableError('elasticsearch') when no node can be reached, and
   * DotrankError('timeout', field elasticsearch) when the node does not answer in time (not tried elsewhere: the
   * search may still be running there).
   */
  async send(request: ForwardRequest): Promise<ForwardedResponse> {
    const first = this.turn;
    this.turn = (this.turn + 1) % this.nodes.length;
    const failures: NodeUnreachable[] = [];
    for (let i = 0; i < this.nodes.length; i++) {
      try {
        return await this.sendTo(this.nodes[(first + i) % this.nodes.length]!, request);
      } catch (error) {
        if (!(error instanceof NodeUnreachable) || request.signal?.aborted) throw error;
        failures.push(error);
      }
    }
    const last = failures[failures.length - 1]!;
    const message =
      failures.length === 1
        ? `cannot reach ${last.message}`
        : `cannot reach any node of ELASTICSEARCH_URL: ${failures.map((f) => f.message).join('; ')}`;
    return Promise.reject(new UnavailableError('elasticsearch', message, { cause: last.cause }));
  }

  private sendTo(node: URL, request: ForwardRequest): Promise<ForwardedResponse> {
    const https = node.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    const path = node.pathname.replace(/\/$/, '') + request.path;
    return new Promise((resolve, reject) => {
      const req = send({
        protocol: node.protocol,
        hostname: node.hostname,
        port: node.port || undefined,
        method: request.method,
        path,
        headers: this.outgoingHeaders(node, request),
        agent: https ? this.httpsAgent : this.httpAgent,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      let timedOut = false;
      let answered = false;
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy();
      }, this.timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(this.forwardError(node, error, timedOut, answered));
      };
      req.on('response', (res) => {
        answered = true;
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

  private forwardError(node: URL, error: Error, timedOut: boolean, answered: boolean): Error {
    if (timedOut)
      return new DotrankError(
        'timeout',
        `${node.origin} did not answer within ${this.timeoutMs} ms (ELASTICSEARCH_TIMEOUT_MS)`,
        { field: 'elasticsearch' },
      );
    if (error.name === 'AbortError') return error;
    // a refused CA pin says what it refused (its code is only `invalid_config`)
    const why =
      error instanceof DotrankError ? error.message : ((error as NodeJS.ErrnoException).code ?? error.message);
    // an answer cut off midway is not sent again (the node did receive the request)
    if (answered)
      return new UnavailableError('elasticsearch', `${node.origin} broke off its answer (${why})`, { cause: error });
    return new NodeUnreachable(node, why, error);
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent?.destroy();
  }
}
