// Public API of @dotrank/elasticsearch: everything Elasticsearch. The candidate source and index creation; connection
// settings (auth, TLS) for the official client and the proxy's forwarding client; planning a proxied search from its
// query DSL; reading and writing proxied search responses; dense (kNN) retrieval.
export { ElasticsearchSource, createElasticsearchSource, ensureIndex } from './source.js';
export { createClientFromConfig, authKindOf } from './client.js';
export { connectionSettings } from './connection.js';
export { ForwardingClient, stripHopByHop, decodedBody } from './forward.js';
export type { ForwardTarget, ForwardedResponse } from './forward.js';
export { planProxySearch } from './dsl.js';
export type { ProxySearchPlan } from './dsl.js';
export { readSearchHits, writeSearchResponse } from './response.js';
export type { SearchHits } from './response.js';
export { mappedTextFields } from './mapping.js';
export { resolveSourceOptions } from './options.js';
export type { ElasticsearchSourceOptions, ResolvedSourceOptions } from './options.js';
export { translateError, statusOf } from './errors.js';
// Dense retrieval on Elasticsearch, documented for scripts; no project of ours wires it in yet.
export { ElasticsearchDenseSource, createElasticsearchDenseSource, detectDenseMode } from './knn.js';
export type { DenseMode, ElasticsearchDenseSourceOptions } from './knn.js';
