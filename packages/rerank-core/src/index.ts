// Public API of @dotrank/rerank-core.
export {};
