import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { listSupportedBackends } from 'onnxruntime-node';

/**
 * The execution providers this ONNX Runtime can start: the ones bundled in the package, and the others (CUDA,
 * TensorRT) whose libraries its install script downloaded beside the binding. `dotrank doctor` compares them with
 * DOTRANK_EXECUTION_PROVIDERS.
 */
export function availableExecutionProviders(): string[] {
  const packageDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  const binaries = join(packageDir, 'bin', 'napi-v6', process.platform, process.arch);
  const installed = existsSync(binaries) ? readdirSync(binaries) : [];
  return listSupportedBackends()
    .filter((backend) => backend.bundled || installed.some((file) => file.includes(`providers_${backend.name}`)))
    .map((backend) => backend.name);
}
