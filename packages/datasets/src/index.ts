// Public API of @dotrank/datasets.
export {};
