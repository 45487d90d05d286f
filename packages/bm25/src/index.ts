// Public API of @dotrank/bm25.
export {};
