import { errors } from '@elastic/elasticsearch';
import { ConfigError, DotrankError, NotFoundError, UnavailableError, ValidationError } from '@dotrank/core';

/** Which credentials a client was built with, so that auth errors can name the setting to fix. */
export type AuthKind = 'api_key' | 'basic' | 'none';

/** 401/403 from the cluster: the credentials are wrong, or lack a privilege. */
export class ElasticsearchAuthError extends ConfigError {
  readonly status: number;
  constructor(field: string, status: number, problem: string, options: { cause?: unknown } = {}) {
    super(field, problem, options);
    this.status = status;
  }
}

export interface ErrorContext {
  /** What we were doing, e.g. `search`, `bulk`, `create index`. */
  action: string;
  index?: string;
  auth?: AuthKind;
  /** Field a 400 answer is blamed on (default `query`). */
  inputField?: string;
  timeoutMs?: number;
}

function authField(auth: AuthKind | undefined): string {
  if (auth === 'api_key') return 'ELASTICSEARCH_API_KEY';
  if (auth === 'basic') return 'ELASTICSEARCH_USERNAME';
  return 'ELASTICSEARCH_API_KEY';
}

/** The `error.type: reason` of an Elasticsearch error body, when there is one. */
export function reasonOf(body: unknown): string | undefined {
  if (!body || typeof body !== 'object')
    return typeof body === 'string' && body.trim() !== '' ? body.trim().slice(0, 300) : undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error === 'string') return error;
  if (error && typeof error === 'object') {
    const e = error as { type?: unknown; reason?: unknown; root_cause?: Array<{ type?: unknown; reason?: unknown }> };
    const root = Array.isArray(e.root_cause) ? e.root_cause[0] : undefined;
    const type = typeof e.type === 'string' ? e.type : undefined;
    const reason = typeof e.reason === 'string' ? e.reason : typeof root?.reason === 'string' ? root.reason : undefined;
    if (type && reason) return `${type}: ${reason}`;
    return type ?? reason;
  }
  return undefined;
}

/** HTTP status of a client error, when the server answered. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof errors.ResponseError ? error.statusCode : undefined;
}

/** True for answers worth retrying later: 429 and 5xx, plus connection trouble and timeouts. */
export function isRetryable(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined) return status === 429 || status >= 500;
  return error instanceof errors.ConnectionError || error instanceof errors.TimeoutError;
}

/** `translateError` for an answer from the server: each status gets the error class and the hint that fits it. */
function translateResponseError(error: errors.ResponseError, context: ErrorContext, where: string): DotrankError {
  const status = error.statusCode ?? 0;
  const reason = reasonOf(error.body) ?? error.message;
  if (
    status === 406 ||
    ((status === 400 || status === 415) &&
      /compatible-with|media_type_header_exception|Content-Type header/i.test(reason))
  ) {
    return new ConfigError(
      'compatibility',
      `the server rejected the client's media type during ${context.action} (${status}: ${reason}); an Elasticsearch 7.x server needs the source option compatibility: 7`,
      { cause: error },
    );
  }
  if (status === 404) {
    return new NotFoundError(
      'index',
      `Elasticsearch index "${context.index ?? '?'}" does not exist (${context.action}); create it first (ensureIndex / dotrank index)`,
      { cause: error },
    );
  }
  if (status === 401) {
    const hint =
      context.auth === 'none'
        ? 'the cluster requires authentication: set ELASTICSEARCH_API_KEY, or ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD'
        : 'the credentials were rejected; check them';
    return new ElasticsearchAuthError(
      authField(context.auth),
      401,
      `Elasticsearch authentication failed (${context.action}): ${hint}`,
      { cause: error },
    );
  }
  if (status === 403) {
    return new ElasticsearchAuthError(
      authField(context.auth),
      403,
      `Elasticsearch refused ${context.action}${where}: the credentials lack a privilege (${reason})`,
      { cause: error },
    );
  }
  if (status === 400) {
    return new ValidationError(
      context.inputField ?? 'query',
      `Elasticsearch rejected ${context.action}${where}: ${reason}`,
      { cause: error },
    );
  }
  if (status === 429) {
    return new UnavailableError(
      'elasticsearch',
      `Elasticsearch is overloaded (429) during ${context.action}${where}: ${reason}`,
      { cause: error },
    );
  }
  return new UnavailableError(
    'elasticsearch',
    `Elasticsearch answered ${status} to ${context.action}${where}: ${reason}`,
    { cause: error },
  );
}

/**
 * Turns any client error into a DotrankError that reads well on its own: no client stack, the index
 * and the setting to fix named. The original stays available as `cause`.
 */
export function translateError(error: unknown, context: ErrorContext): DotrankError | Error {
  if (error instanceof DotrankError) return error;
  const where = context.index ? ` on index "${context.index}"` : '';
  if (error instanceof errors.ResponseError) return translateResponseError(error, context, where);
  if (error instanceof errors.TimeoutError) {
    const after = context.timeoutMs ? ` after ${context.timeoutMs} ms (ELASTICSEARCH_TIMEOUT_MS)` : '';
    return new UnavailableError('elasticsearch', `Elasticsearch did not answer ${context.action}${where}${after}`, {
      cause: error,
    });
  }
  if (error instanceof errors.ConnectionError) {
    return new UnavailableError(
      'elasticsearch',
      `cannot reach Elasticsearch (${context.action}): ${error.message}; check ELASTICSEARCH_URL / ELASTICSEARCH_CLOUD_ID and that the cluster is up`,
      { cause: error },
    );
  }
  if (error instanceof errors.ProductNotSupportedError) {
    return new ConfigError(
      'ELASTICSEARCH_URL',
      'the server is not Elasticsearch 7.14 or newer (no x-elastic-product header); dotrank needs Elasticsearch 7.14+, 8.x or 9.x',
      { cause: error },
    );
  }
  if (error instanceof errors.RequestAbortedError) {
    return new UnavailableError('elasticsearch', `${context.action} was aborted`, { cause: error });
  }
  if (error instanceof errors.ConfigurationError) {
    return new ConfigError('ELASTICSEARCH_URL', error.message, { cause: error });
  }
  if (error instanceof errors.ElasticsearchClientError) {
    return new UnavailableError(
      'elasticsearch',
      `Elasticsearch client error during ${context.action}: ${error.message}`,
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}
