// Public API of @dotrank/elasticsearch.
export {};
