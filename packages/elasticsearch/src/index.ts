// Public API of @dotrank/elasticsearch: everything Elasticsearch. The candidate source, index creation and bulk
// ingest; connection settings (auth, TLS) for the official client and the proxy's forwarding client; query-DSL
// reading; the one hit-to-passage function; reading and writing proxied search responses.
export { ElasticsearchSource, createElasticsearchSource, ensureIndex } from './source.js';
export type { EnsureIndexResult } from './source.js';
export { createClientFromConfig, authKindOf, compatibilityOf, COMPAT7_HEADERS, COMPAT7_NDJSON_HEADERS } from './client.js';
export type { ClientFactoryOptions, ServerCompatibility } from './client.js';
export { connectionSettings, authorizationHeader, cloudUrl, DEFAULT_TIMEOUT_MS } from './connection.js';
export type { ElasticsearchConfig, ConnectionSettings, ClientAuth } from './connection.js';
export { ForwardingClient, stripHopByHop, decodedBody } from './forward.js';
export type { ForwardTarget, ForwardRequest, ForwardedResponse } from './forward.js';
export { extractQueryText, readRerankSection, readRetriever, planProxySearch } from './dsl.js';
export type { RerankSection, ProxySearchPlan, ProxySearchDecision } from './dsl.js';
export { readSearchHits, writeSearchResponse } from './response.js';
export type { SearchHits, RankedHit } from './response.js';
export { buildSearchBody, passageFromHit, filterClauses, sourceIncludes, validateSearch, getField } from './query.js';
export type { SearchBody, SearchHitLike } from './query.js';
export { buildIndexDefinition, mappedTextFields, resolveBm25, SIMILARITY_NAME } from './mapping.js';
export type { EnsureIndexOptions, IndexDefinition } from './mapping.js';
export { resolveSourceOptions, parseBoostedField, DEFAULT_BULK } from './options.js';
export type { ElasticsearchSourceOptions, ResolvedSourceOptions, BulkOptions, EsQueryClause } from './options.js';
export { bulkIndex, documentFor, checkPassage, backoffMs } from './bulk.js';
export type { BulkContext, BulkEntry } from './bulk.js';
export { translateError, ElasticsearchAuthError, isRetryable, reasonOf, statusOf } from './errors.js';
export type { AuthKind, ErrorContext } from './errors.js';
export {
  ElasticsearchDenseSource,
  createElasticsearchDenseSource,
  buildKnnBody,
  buildScriptScoreBody,
  buildDenseIndexDefinition,
  denseVectorMapping,
  vectorDocument,
  detectDenseMode,
  supportsMaxInnerProduct,
  innerProductFromScore,
  SCRIPT_SOURCE,
  DEFAULT_VECTOR_FIELD,
} from './knn.js';
export type { DenseMode, DenseSearchBodyOptions, ElasticsearchDenseSourceOptions } from './knn.js';
