import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { extname, resolve } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { NotFoundError, ValidationError } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';
import { encoderOptionsFromConfig, loadEncoder } from '@dotrank/encoder';
import type { TextKind } from '@dotrank/encoder';
import { commandConfig, configOption } from '../lib/config-options.js';
import { addOutputOptions, noticeWriter, showProgress } from '../lib/output.js';
import type { OutputFlags } from '../lib/output.js';
import { createProgress } from '../lib/progress.js';

interface EncodeFlags extends OutputFlags {
  kind: TextKind;
  in: string;
  out: string;
  format?: 'tsv' | 'jsonl';
}

interface InputRecord {
  id: string | number;
  text: string;
}

/** Records read and encoded per round: bounds memory on large files while output stays in input order. */
const CHUNK = 2048;

function formatOf(file: string, explicit: 'tsv' | 'jsonl' | undefined, firstLine: string | undefined): 'tsv' | 'jsonl' {
  if (explicit) return explicit;
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  return firstLine?.trimStart().startsWith('{') ? 'jsonl' : 'tsv';
}

/** One input line as a record; problems name the file and 1-based line. */
export function parseLine(line: string, format: 'tsv' | 'jsonl', where: string): InputRecord {
  if (format === 'tsv') {
    const tab = line.indexOf('\t');
    if (tab < 0) throw new ValidationError(where, 'expected "id<TAB>text" but found no tab');
    const id = line.slice(0, tab).trim();
    const text = line.slice(tab + 1).replace(/\r$/, '');
    if (id === '') throw new ValidationError(where, 'empty id');
    if (text.trim() === '') throw new ValidationError(where, `empty text for id ${JSON.stringify(id)}`);
    return { id, text };
  }
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new ValidationError(where, `invalid JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ValidationError(where, 'expected a JSON object {"id", "text"}');
  const { id, text } = value as Record<string, unknown>;
  if (!((typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id)))) {
    throw new ValidationError(where, `"id" must be a non-empty string or a number (got ${JSON.stringify(id ?? null)})`);
  }
  if (typeof text !== 'string' || text.trim() === '') throw new ValidationError(where, `"text" must be a non-empty string (got ${JSON.stringify(text ?? null)})`);
  return { id, text };
}

/** A float32 written with the 9 significant digits that round-trip it, without trailing noise. */
function compact(x: number): number {
  return Number(x.toPrecision(9));
}

async function countLines(file: string): Promise<number> {
  let count = 0;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) if (line.trim() !== '') count++;
  return count;
}

async function runEncode(config: DotrankConfig, flags: EncodeFlags): Promise<void> {
  const modelDir = config.DOTRANK_MODEL;
  if (!modelDir) throw new ValidationError('--model', 'required (or set DOTRANK_MODEL)');
  const input = resolve(flags.in);
  const output = resolve(flags.out);
  try {
    if (!(await stat(input)).isFile()) throw new ValidationError('--in', `${input} is not a file`);
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw new NotFoundError('--in', `${input} does not exist`);
  }

  const encoder = await loadEncoder(modelDir, encoderOptionsFromConfig(config));
  const progressShown = showProgress(flags);
  const bar = createProgress(`encode ${flags.kind === 'query' ? 'queries' : 'passages'}`, progressShown ? await countLines(input) : 0, progressShown);
  const started = performance.now();
  const temp = `${output}.tmp-${process.pid}`;
  const out = await open(temp, 'w');
  let done = 0;
  try {
    let format: 'tsv' | 'jsonl' | undefined;
    let chunk: InputRecord[] = [];
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      const vectors = await encoder.encode(chunk.map((r) => r.text), flags.kind);
      const text = chunk.map((r, i) => JSON.stringify({ id: r.id, vector: Array.from(vectors[i]!, compact) })).join('\n') + '\n';
      await out.write(text);
      done += chunk.length;
      chunk = [];
      bar.update(done);
    };
    let lineNo = 0;
    const lines = createInterface({ input: createReadStream(input, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const raw of lines) {
      lineNo++;
      const line = lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (line.trim() === '') continue;
      format ??= formatOf(input, flags.format, line);
      chunk.push(parseLine(line, format, `${flags.in}:${lineNo}`));
      if (chunk.length >= CHUNK) await flush();
    }
    await flush();
    await out.close();
    await rename(temp, output);
  } catch (error) {
    await out.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  } finally {
    bar.stop();
    await encoder.close();
  }
  const seconds = (performance.now() - started) / 1000;
  noticeWriter(flags)(`encoded ${done} ${flags.kind === 'query' ? 'queries' : 'passages'} with ${encoder.modelId} (dim ${encoder.dimension}) in ${seconds.toFixed(1)} s -> ${output}`);
}

/** `dotrank encode`: texts from a TSV or JSONL file to vectors in a JSONL file, in input order. */
export function registerEncodeCommand(program: Command): void {
  const command = program
    .command('encode')
    .description('Encode queries or passages (TSV "id<TAB>text" or JSONL {"id","text"}) into JSONL {"id","vector"}')
    .addOption(configOption('--model <dir>', 'DOTRANK_MODEL', 'model directory'))
    .addOption(new Option('--kind <kind>', 'what the texts are (sets the max length)').choices(['query', 'passage']).makeOptionMandatory())
    .requiredOption('--in <file>', 'input file: TSV id<TAB>text, or JSONL {"id","text"}')
    .requiredOption('--out <file>', 'output JSONL file')
    .addOption(new Option('--format <format>', 'input format (default: from the extension, else the first line)').choices(['tsv', 'jsonl']))
    .addOption(configOption('--batch-size <n>', 'DOTRANK_BATCH_SIZE', 'texts per ONNX Runtime call'))
    .addOption(configOption('--threads <n>', 'DOTRANK_ORT_THREADS', 'ONNX Runtime intra-op threads, 0 = all cores'));
  addOutputOptions(command).action(async (flags: EncodeFlags) => {
    await runEncode(commandConfig(command), flags);
  });
}
