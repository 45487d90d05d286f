// Public API of @dotrank/model-tools: hub download, checkpoint reading (safetensors, safe pickle), ONNX graph building, quantization.
export { pullModel, defaultModelDir } from './pull.js';
export type { PullOptions, PullResult } from './pull.js';
export { convertCheckpoint, findWeights, readWeights, writeTokenizer, manifestFor, GRAPH_FILE } from './convert.js';
export type { ConvertOptions, ConvertResult, WrittenManifest } from './convert.js';
export { downloadFile, fileMetadata, repoInfo, resolveUrl, validateRepoId, DEFAULT_HUB_ENDPOINT } from './hub.js';
export type { HubOptions, DownloadProgress, DownloadResult, RepoInfo } from './hub.js';
export { buildEncoderGraph, quantizeSymmetricInt8, WEIGHT_DTYPES, INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS, LAST_HIDDEN_STATE } from './build-graph.js';
export type { BuildOptions, WeightDtype, Int8Kernel } from './build-graph.js';
export { encoderSpec, modelFamily } from './architecture.js';
export type { EncoderSpec, EncoderLayer, HfConfig, ModelFamily } from './architecture.js';
export { readSafetensors, parseSafetensors, writeSafetensors } from './safetensors.js';
export { readTorchCheckpoint } from './torch-checkpoint.js';
export { unpickle, PickleDict } from './pickle.js';
export { buildBertTokenizerJson, tokenizerJsonFromVocab } from './tokenizer-json.js';
export type { BertTokenizerConfig } from './tokenizer-json.js';
export type { FloatTensor, StateDict } from './tensor.js';
