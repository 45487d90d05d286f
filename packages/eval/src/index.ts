// Public API of @dotrank/eval.
export {};
