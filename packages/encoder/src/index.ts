// Public API of @dotrank/encoder: model directory loading, tokenization, ONNX inference, pooling and scoring.
export { loadEncoder, encoderOptionsFromConfig, Encoder, EXECUTION_PROVIDERS } from './encoder.js';
export type { EncoderOptions, TextKind, ExecutionProvider } from './encoder.js';
export type { InferenceThread } from './ort-host.js';
export { readManifest, MANIFEST_FILE, DEFAULTS as MANIFEST_DEFAULTS } from './manifest.js';
export type { ModelManifest, ManifestFile } from './manifest.js';
export { dot, cosine } from './pooling.js';
export { TextTokenizer } from './tokenizer.js';
export { availableExecutionProviders } from './providers.js';
