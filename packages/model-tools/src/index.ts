// Public API of @dotrank/model-tools: hub download (pull) and checkpoint conversion (safetensors or safe pickle to an
// ONNX encoder in fp32, fp16 or int8).
export { pullModel, defaultModelDir } from './pull.js';
export type { PullResult } from './pull.js';
export { convertCheckpoint } from './convert.js';
export type { DownloadProgress } from './hub.js';
export { WEIGHT_DTYPES } from './build-graph.js';
export type { WeightDtype } from './build-graph.js';
