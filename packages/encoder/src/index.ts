// Public API of @dotrank/encoder.
export {};
