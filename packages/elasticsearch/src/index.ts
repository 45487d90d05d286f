// Public API of @dotrank/elasticsearch: everything Elasticsearch. The candidate source and index creation; connection
// settings (auth, TLS) for the official client and the proxy's forwarding client; planning a proxied search from its
// query DSL; reading and writing proxied search responses; dense (kNN) retrieval.
export { ElasticsearchSource, createElasticsearchSource, ensureIndex } from './source.js';
export { createClientFromConfig, authKindOf } from './client.js';
export {
  connectionSettings,
  tlsOptions,
  createHttpsAgent,
  pinnedCaProblem,
  TLS_INSECURE_WARNING,
} from './connection.js';
export type { ConnectionSettings } from './connection.js';
export {
  ForwardingClient,
  stripHopByHop,
  decodedBody,
  forwardableHeaders,
  FORWARDED_REQUEST_HEADERS,
} from './forward.js';
export type { ForwardTarget, ForwardedResponse } from './forward.js';
export {
  planProxySearch,
  parseSearchBody,
  elasticsearchRerankScore,
  DEFAULT_WINDOW,
  DEFAULT_RANK_WINDOW_SIZE,
} from './dsl.js';
export type { ProxySearchPlan, ProxySearchDecision, PlanSettings } from './dsl.js';
export { extractQueryText, queryStringText } from './query-text.js';
export { IndexScope, ProxyError, esError, readTarget, targetPath, checkBodyScope, indicesReadByBody } from './scope.js';
export type { EsErrorBody, ProxyTargetPath } from './scope.js';
export { MemoryWindowStore, redisWindowStore, windowKey, canonicalJson, parseWindow } from './window-cache.js';
export type { WindowStore, RedisLike, RankedWindow, WindowKeyParts } from './window-cache.js';
export { PASSAGE_HIGHLIGHT_FIELD, buildWindow, continuationHits, pastWindow, writePage } from './page.js';
export type { BestPassage as ProxiedPassage, ProxiedHitMeta, WindowRanking } from './page.js';
export { readMsearch } from './msearch.js';
export type { MsearchItem } from './msearch.js';
export { readSearchHits, writeSearchResponse } from './response.js';
export type { SearchHits } from './response.js';
export { mappedTextFields } from './mapping.js';
export { resolveSourceOptions } from './options.js';
export type { ElasticsearchSourceOptions, ResolvedSourceOptions } from './options.js';
export { passageFromHit } from './query.js';
export { passageOptionsForIndex, sourceOptionsFromConfig, loadIndexConfig, parseIndexConfig } from './index-config.js';
export type { IndexConfigMap, IndexFieldConfig, PassageConfig } from './index-config.js';
export { inspectIndex, walkMapping, suggestionAsEnv, suggestionAsIndexConfig } from './inspect.js';
export type { IndexInspection, InspectedTextField, InspectedFilterField, SuggestedIndexConfig } from './inspect.js';
export { translateError, statusOf } from './errors.js';
// Dense retrieval on Elasticsearch, documented for scripts; no project of ours wires it in yet.
export { ElasticsearchDenseSource, createElasticsearchDenseSource, detectDenseMode } from './knn.js';
export type { DenseMode, ElasticsearchDenseSourceOptions } from './knn.js';
