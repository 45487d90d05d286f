// Public API of @dotrank/encoder: model directory loading (manifest), tokenization, ONNX inference and pooling.
export { loadEncoder, encoderOptionsFromConfig, Encoder } from './encoder.js';
export type { TextKind, EncoderOptions, QueryCallStats } from './encoder.js';
export { redisQueryVectors, queryCacheKey } from './query-cache.js';
export type { QueryCacheRedis, QueryCacheStats, SharedQueryVectors } from './query-cache.js';
export type { BatcherOptions } from './batcher.js';
export { readManifest, MANIFEST_FILE, DEFAULTS as MANIFEST_DEFAULTS } from './manifest.js';
export type { ManifestFile } from './manifest.js';
export { TextTokenizer } from './tokenizer.js';
export { splitIntoWindows, splitWords, validateWindowOptions } from './windows.js';
export type { PassageWindow, WindowOptions } from './windows.js';
export { availableExecutionProviders } from './providers.js';
