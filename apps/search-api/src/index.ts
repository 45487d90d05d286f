// Public API of @dotrank/search-api.
export {};
