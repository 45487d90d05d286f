// Public API of @dotrank/model-tools.
export {};
