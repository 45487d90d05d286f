// Public API of @dotrank/reranker-worker.
export {};
