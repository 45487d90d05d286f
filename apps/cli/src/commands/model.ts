import { resolve } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { ValidationError } from '@dotrank/core';
import { convertCheckpoint, defaultModelDir, pullModel, WEIGHT_DTYPES } from '@dotrank/model-tools';
import type { DownloadProgress, PullResult, WeightDtype } from '@dotrank/model-tools';
import { commandConfig } from '../lib/config-options.js';
import { addOutputOptions, addQuietOption, noticeWriter, showProgress } from '../lib/output.js';
import type { OutputFlags } from '../lib/output.js';

interface PullFlags extends OutputFlags {
  revision: string;
  dtype: WeightDtype;
  out?: string;
  from?: string;
  preferOnnx?: boolean;
  keepDownloads?: boolean;
}

interface ConvertFlags extends OutputFlags {
  from: string;
  out: string;
  dtype: WeightDtype;
  modelId?: string;
}

const dtypeOption = () =>
  new Option(
    '--dtype <dtype>',
    'weights: fp32, fp16 (stored half, cast to fp32 at load) or int8 (dynamic quantization)',
  )
    .choices([...WEIGHT_DTYPES])
    .default('fp32');

/** One progress bar per downloaded file on stderr when progress is shown; else a notice per file. */
function progressReporter(flags: OutputFlags): { onProgress: (p: DownloadProgress) => void; stop: () => void } {
  const bars = showProgress(flags);
  const notice = noticeWriter(flags);
  let bar: cliProgress.SingleBar | undefined;
  let current = '';
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    stop,
    onProgress: (p) => {
      if (p.file !== current) {
        stop();
        current = p.file;
        if (!bars) {
          notice(
            `downloading ${p.file}${p.total ? ` (${p.total} bytes)` : ''}${p.resumedFrom ? `, resuming at ${p.resumedFrom}` : ''}`,
          );
          return;
        }
        bar = new cliProgress.SingleBar(
          { format: `${p.file} [{bar}] {percentage}% {value}/{total} bytes`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(p.total ?? 0, p.received);
      }
      if (bar) {
        if (p.total && bar.getTotal() !== p.total) bar.setTotal(p.total);
        bar.update(p.received);
      }
    },
  };
}

function report(result: PullResult | { outDir: string; manifest: PullResult['manifest'] }): void {
  const m = result.manifest;
  process.stdout.write(
    `${JSON.stringify({ out: result.outDir, modelId: m.modelId, revision: m.revision, dtype: m.dtype, dimension: m.dimension, graph: m.graph })}\n`,
  );
}

/** `dotrank model pull|convert`: fetch a Hugging Face checkpoint and turn it into an ONNX model directory. */
export function registerModelCommand(program: Command): void {
  const model = program
    .command('model')
    .description('Download and convert models (Hugging Face checkpoint -> ONNX model directory)');

  const pull = model
    .command('pull')
    .description(
      'Download a model from the Hugging Face hub (HF_ENDPOINT, HF_TOKEN) or read it from --from, and convert it to ONNX',
    )
    .argument('<hub-id>', 'hub repo id, e.g. sebastian-hofstaetter/distilbert-dot-tas_b-b256-msmarco')
    .option('--revision <revision>', 'branch, tag or commit', 'main')
    .addOption(dtypeOption())
    .option('--out <dir>', 'output directory (default: <DOTRANK_DATA_DIR>/models/<hub id with / -> __>)')
    .option('--from <dir>', 'read the checkpoint from a local folder instead of the hub')
    .option('--prefer-onnx', "use the repo's own ONNX export (onnx/model.onnx or model.onnx) when it has one")
    .option('--keep-downloads', 'keep the downloaded checkpoint in <out>/.download');
  addOutputOptions(pull).action(async (hubId: string, flags: PullFlags) => {
    const config = commandConfig(pull);
    const out = flags.out ? resolve(flags.out) : defaultModelDir(config.DOTRANK_DATA_DIR, hubId);
    const endpoint = config.HF_ENDPOINT;
    const token = config.HF_TOKEN;
    const notice = noticeWriter(flags);
    const progress = progressReporter(flags);
    try {
      const result = await pullModel({
        repo: hubId,
        out,
        revision: flags.revision,
        dtype: flags.dtype,
        ...(endpoint ? { endpoint } : {}),
        ...(token ? { token } : {}),
        ...(flags.from ? { from: flags.from } : {}),
        preferOnnx: Boolean(flags.preferOnnx),
        keepDownloads: Boolean(flags.keepDownloads),
        onProgress: progress.onProgress,
        onStage: (stage) => {
          if (!stage.startsWith('downloading')) {
            progress.stop();
            notice(stage);
          }
        },
      });
      progress.stop();
      report(result);
    } finally {
      progress.stop();
    }
  });

  const convert = model
    .command('convert')
    .description('Convert a local Hugging Face checkpoint folder (DistilBERT or BERT) into an ONNX model directory')
    .requiredOption(
      '--from <dir>',
      'folder with config.json, model.safetensors or pytorch_model.bin, tokenizer.json or vocab.txt',
    )
    .requiredOption('--out <dir>', 'output model directory')
    .addOption(dtypeOption())
    .option('--model-id <id>', 'modelId written to dotrank.json (default: the folder name)');
  addQuietOption(convert).action(async (flags: ConvertFlags) => {
    if (resolve(flags.from) === resolve(flags.out)) throw new ValidationError('--out', 'must differ from --from');
    const result = await convertCheckpoint({
      from: flags.from,
      out: flags.out,
      dtype: flags.dtype,
      ...(flags.modelId ? { modelId: flags.modelId } : {}),
      onStage: noticeWriter(flags),
    });
    report(result);
  });
}
