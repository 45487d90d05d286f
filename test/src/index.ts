// Public API of @dotrank/e2e.
export {};
