// Public API of @dotrank/vector-cache.
export {};
