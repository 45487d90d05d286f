import { open, rename, rm, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { NotFoundError, ValidationError } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';
import { LineError, hasSpaceOrControl, parseLines } from '@dotrank/datasets';
import type { MalformedLine } from '@dotrank/datasets';
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
  skipInvalid?: boolean;
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

function checkId(id: string): void {
  if (hasSpaceOrControl(id)) throw new LineError(`id ${JSON.stringify(id)} contains whitespace or a control character`);
}

/** One input line as a record; a problem is a LineError, which the reader turns into `<file>:<line>: problem`. */
export function parseLine(line: string, format: 'tsv' | 'jsonl'): InputRecord {
  if (format === 'tsv') {
    const tab = line.indexOf('\t');
    if (tab < 0) throw new LineError('expected "id<TAB>text" but found no tab');
    const id = line.slice(0, tab).trim();
    const text = line.slice(tab + 1);
    if (id === '') throw new LineError('empty id');
    checkId(id);
    if (text.trim() === '') throw new LineError(`empty text for id ${JSON.stringify(id)}`);
    return { id, text };
  }
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new LineError(`invalid JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new LineError('expected a JSON object {"id", "text"}');
  const { id, text } = value as Record<string, unknown>;
  if (!((typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id)))) {
    throw new LineError(`"id" must be a non-empty string or a number (got ${JSON.stringify(id ?? null)})`);
  }
  checkId(String(id));
  if (typeof text !== 'string' || text.trim() === '')
    throw new LineError(`"text" must be a non-empty string (got ${JSON.stringify(text ?? null)})`);
  return { id, text };
}

/**
 * The records of the input file, strictly: a malformed line, an id with whitespace or control characters, a
 * duplicate id or bytes that are not UTF-8 fail with `<file>:<line>: problem` (with --skip-invalid, reported to
 * `onSkipped` and left out).
 */
function readRecords(
  input: string,
  flags: EncodeFlags,
  onSkipped: (line: MalformedLine) => void,
): AsyncGenerator<InputRecord> {
  let format: 'tsv' | 'jsonl' | undefined;
  const firstLineOf = new Map<string, number>();
  return parseLines(
    input,
    (line, lineNo) => {
      format ??= formatOf(input, flags.format, line);
      const record = parseLine(line, format);
      const key = String(record.id);
      const previous = firstLineOf.get(key);
      if (previous !== undefined)
        throw new LineError(`duplicate id ${JSON.stringify(key)} (first on line ${previous})`);
      firstLineOf.set(key, lineNo);
      return record;
    },
    { onInvalid: flags.skipInvalid ? 'skip' : 'fail', onSkipped },
  );
}

/** A float32 written with the 9 significant digits that round-trip it, without trailing noise. */
function compact(x: number): number {
  return Number(x.toPrecision(9));
}

/** Reads the whole input once before any encoding: a bad line fails in seconds; returns the record count. */
async function checkInput(input: string, flags: EncodeFlags): Promise<number> {
  const notice = noticeWriter(flags);
  let records = 0;
  let skipped = 0;
  for await (const record of readRecords(input, flags, (m) => {
    skipped++;
    notice(`skipped ${m.file}:${m.line}: ${m.reason}`);
  })) {
    if (record) records++;
  }
  if (skipped > 0) notice(`skipped ${skipped} invalid line${skipped === 1 ? '' : 's'} (--skip-invalid)`);
  if (records === 0)
    throw new ValidationError(input, skipped > 0 ? 'no valid line to encode' : 'holds no text to encode');
  return records;
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

  const total = await checkInput(input, flags);
  const encoder = await loadEncoder(modelDir, encoderOptionsFromConfig(config));
  const bar = createProgress(`encode ${flags.kind === 'query' ? 'queries' : 'passages'}`, total, showProgress(flags));
  const started = performance.now();
  const temp = `${output}.tmp-${process.pid}`;
  const out = await open(temp, 'w');
  let done = 0;
  try {
    let chunk: InputRecord[] = [];
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      const vectors = await encoder.encode(
        chunk.map((r) => r.text),
        flags.kind,
      );
      const text =
        chunk.map((r, i) => JSON.stringify({ id: r.id, vector: Array.from(vectors[i]!, compact) })).join('\n') + '\n';
      await out.write(text);
      done += chunk.length;
      chunk = [];
      bar.update(done);
    };
    // skipped lines were reported by checkInput
    for await (const record of readRecords(input, flags, () => undefined)) {
      chunk.push(record);
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
  noticeWriter(flags)(
    `encoded ${done} ${flags.kind === 'query' ? 'queries' : 'passages'} with ${encoder.modelId} (dim ${encoder.dimension}) in ${seconds.toFixed(1)} s -> ${output}`,
  );
}

/** `dotrank encode`: texts from a TSV or JSONL file to vectors in a JSONL file, in input order. */
export function registerEncodeCommand(program: Command): void {
  const command = program
    .command('encode')
    .description('Encode queries or passages (TSV "id<TAB>text" or JSONL {"id","text"}) into JSONL {"id","vector"}')
    .addOption(configOption('--model <dir>', 'DOTRANK_MODEL', 'model directory'))
    .addOption(
      new Option('--kind <kind>', 'what the texts are (sets the max length)')
        .choices(['query', 'passage'])
        .makeOptionMandatory(),
    )
    .requiredOption('--in <file>', 'input file: TSV id<TAB>text, or JSONL {"id","text"}')
    .requiredOption('--out <file>', 'output JSONL file')
    .addOption(
      new Option('--format <format>', 'input format (default: from the extension, else the first line)').choices([
        'tsv',
        'jsonl',
      ]),
    )
    .option('--skip-invalid', 'leave invalid lines out, each reported, instead of failing at the first (exit 2)')
    .addOption(configOption('--batch-size <n>', 'DOTRANK_BATCH_SIZE', 'texts per ONNX Runtime call'))
    .addOption(configOption('--threads <n>', 'DOTRANK_ORT_THREADS', 'ONNX Runtime intra-op threads, 0 = all cores'));
  addOutputOptions(command).action(async (flags: EncodeFlags) => {
    await runEncode(commandConfig(command), flags);
  });
}
