import { Agent as HttpAgent } from 'node:http';
import { Client, HttpConnection, errors } from '@elastic/elasticsearch';
import type { ClientOptions } from '@elastic/elasticsearch';
import { ConfigError } from '@dotrank/core';
import { connectionSettings, createHttpsAgent, tlsOptions } from './connection.js';
import type { ElasticsearchConfig } from './connection.js';
import type { AuthKind } from './errors.js';

/**
 * Server generation to talk to. The v8 client sends `compatible-with=8` media types, which 8.x and 9.x
 * servers accept; 7.x servers do not, so `7` sends plain `application/json` / `application/x-ndjson`.
 */
export type ServerCompatibility = 7 | 8;

export interface ClientFactoryOptions {
  /** Default 8 (Elasticsearch 8.x and 9.x). Use 7 for Elasticsearch 7.14-7.17. */
  compatibility?: ServerCompatibility;
  /**
   * Extra client options merged last (e.g. `Connection` from @elastic/elasticsearch-mock in tests, `maxRetries`).
   * Auth, TLS and node/cloud settings come from the config.
   */
  clientOptions?: Partial<ClientOptions>;
}

/** Media-type headers for 7.x servers; the v8 client keeps caller-set headers over its vendored ones. */
export const COMPAT7_HEADERS = { accept: 'application/json', 'content-type': 'application/json' } as const;
export const COMPAT7_NDJSON_HEADERS = { accept: 'application/json', 'content-type': 'application/x-ndjson' } as const;

const kAuthKind = Symbol.for('dotrank.elasticsearch.authKind');
const kCompat = Symbol.for('dotrank.elasticsearch.compatibility');

/** The credentials kind a client from `createClientFromConfig` uses (`none` for other clients). */
export function authKindOf(client: Client): AuthKind {
  return (client as unknown as Record<symbol, AuthKind | undefined>)[kAuthKind] ?? 'none';
}

/** The compatibility a client from `createClientFromConfig` was built for (8 for other clients). */
export function compatibilityOf(client: Client): ServerCompatibility {
  return (client as unknown as Record<symbol, ServerCompatibility | undefined>)[kCompat] ?? 8;
}

/**
 * An Elasticsearch client from dotrank configuration: URL (one or several nodes) or Elastic Cloud id, API key or
 * user/password, a CA file or CA fingerprint for TLS (or none, when ELASTICSEARCH_TLS_INSECURE), the request timeout. Every problem is a ConfigError naming the variable.
 */
export function createClientFromConfig(config: ElasticsearchConfig, options: ClientFactoryOptions = {}): Client {
  const settings = connectionSettings(config);
  const clientOptions: ClientOptions = {};
  if (settings.cloudId) clientOptions.cloud = { id: settings.cloudId };
  else if (settings.urls && settings.urls.length > 1) clientOptions.nodes = settings.urls;
  else if (settings.url) clientOptions.node = settings.url;
  else if (!options.clientOptions?.node && !options.clientOptions?.nodes && !options.clientOptions?.cloud) {
    throw new ConfigError(
      'ELASTICSEARCH_URL',
      'is not set; set ELASTICSEARCH_URL (e.g. http://127.0.0.1:9200) or ELASTICSEARCH_CLOUD_ID',
    );
  }
  if (settings.auth) clientOptions.auth = settings.auth;
  const tls = tlsOptions(settings);
  if (Object.keys(tls).length > 0) clientOptions.tls = tls;
  if (settings.caFingerprint) {
    // The client's own caFingerprint check accepts any leaf sent beside the pinned CA (it does not check the
    // signatures); our agent does, and hands a connection over only once it passed.
    clientOptions.Connection = HttpConnection;
    clientOptions.agent = (opts) =>
      opts.url.protocol === 'https:'
        ? createHttpsAgent(settings, { keepAlive: true })
        : new HttpAgent({ keepAlive: true });
  }
  clientOptions.requestTimeout = settings.timeoutMs;
  const authKind: AuthKind = settings.authKind;
  const cloudId = settings.cloudId;
  const compatibility = options.compatibility ?? 8;
  if (compatibility !== 7 && compatibility !== 8) {
    throw new ConfigError('compatibility', `must be 7 or 8 (got ${String(compatibility)})`);
  }

  const merged: ClientOptions = { ...clientOptions, ...options.clientOptions };
  if (compatibility === 7) merged.headers = { ...options.clientOptions?.headers, ...COMPAT7_HEADERS };
  let client: Client;
  try {
    client = new Client(merged);
  } catch (error) {
    const field = cloudId ? 'ELASTICSEARCH_CLOUD_ID' : 'ELASTICSEARCH_URL';
    const message =
      error instanceof errors.ConfigurationError || error instanceof Error ? error.message : String(error);
    throw new ConfigError(field, message, { cause: error });
  }
  Object.defineProperty(client, kAuthKind, { value: authKind, enumerable: false });
  Object.defineProperty(client, kCompat, { value: compatibility, enumerable: false });
  return client;
}
