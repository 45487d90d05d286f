import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { ConfigError, ValidationError, workerConcurrency } from '@dotrank/core';
import type { Candidate, DotrankConfig, FusionMode } from '@dotrank/core';
import {
  compareTrecOrder,
  findCollection,
  formatRun,
  parseLines,
  readCorpus,
  readQueries,
  readRun,
  readTop1000,
} from '@dotrank/datasets';
import { encoderOptionsFromConfig, loadEncoder } from '@dotrank/encoder';
import {
  InProcessReranker,
  QueueReranker,
  candidateWindowsFor,
  parseDocScore,
  passageWindowSettingsFromConfig,
  usesWindows,
} from '@dotrank/rerank-core';
import type { CandidateWindows, Normalization, Reranker, RerankResult } from '@dotrank/rerank-core';
import { MemoryVectorStore, RedisVectorStore, vectorStoreOptionsFromConfig } from '@dotrank/vector-cache';
import { createProgress } from './progress.js';

/** `bm25` writes the first stage's own order (no model): a TREC run out of an MS MARCO top1000 file. */
export const RERANK_FUSIONS = ['tasb', 'interpolate', 'rrf', 'bm25'] as const;
export type RerankFusion = (typeof RERANK_FUSIONS)[number];

export interface RerankRunOptions {
  /** A TREC run, or an MS MARCO `top1000` TSV (qid, pid, query, passage), gzip by name. */
  run: string;
  /** Collection folder (or corpus file) for the passage texts of a TREC run, and its queries. */
  collection?: string;
  /** Queries file, when not the collection's. */
  queries?: string;
  model?: string;
  out: string;
  /** Candidates reranked per query (the best of the run); default all (at most DOTRANK_MAX_CANDIDATES). */
  depth?: number;
  fusion: RerankFusion;
  alpha?: number;
  normalization?: Normalization;
  /** 'queue': BullMQ workers (REDIS_URL); 'in-process': this process. Default queue when REDIS_URL is set. */
  via?: 'queue' | 'in-process';
  tag?: string;
  progress: boolean;
  log: (line: string) => void;
}

export interface RerankRunSummary {
  queries: number;
  /** Queries already complete in --out, skipped. */
  resumed: number;
  /** Candidates left out because their text is empty (no dense score; `dotrank eval` leaves them out too). */
  textless: number;
  out: string;
  ms: number;
}

/** One query's work: its text and first-stage candidates, best first. */
interface QueryCandidates {
  qid: string;
  query: string;
  candidates: Candidate[];
}

/** True when the file's first line has 4 tab-separated columns: MS MARCO's top1000 layout. */
async function isTop1000(path: string): Promise<boolean> {
  for await (const line of parseLines(path, (text) => text)) return line.split('\t').length === 4;
  throw new ValidationError(path, 'the run is empty');
}

/**
 * What --out already holds: the queries in file order and the byte length of everything before the last one. The
 * last query is redone (it may have been cut short by the interruption), so resuming truncates the file there.
 */
async function completedQueries(out: string): Promise<{ done: Set<string>; keepBytes: number }> {
  const size = await stat(out).then(
    (s) => (s.isFile() ? s.size : 0),
    () => 0,
  );
  const end = await lastLineEnd(out, size);
  if (end < 0) return { done: new Set(), keepBytes: 0 };
  const order: string[] = [];
  const seen = new Set<string>();
  let offset = 0;
  let lastStart = 0;
  // only complete lines count: a line cut short by the interruption may hold part of a query id
  const lines = createInterface({ input: createReadStream(out, { end }), crlfDelay: Infinity });
  for await (const line of lines) {
    const qid = line.split(/[ \t]/, 1)[0]!;
    if (line.trim() !== '' && order[order.length - 1] !== qid) {
      if (seen.has(qid)) throw new ValidationError(out, `query ${qid} appears twice: not a run this command wrote`);
      order.push(qid);
      seen.add(qid);
      lastStart = offset;
    }
    offset += Buffer.byteLength(line) + 1;
  }
  if (order.length === 0) return { done: new Set(), keepBytes: 0 };
  order.pop();
  return { done: new Set(order), keepBytes: lastStart };
}

/** The offset of the file's last newline (-1 when none): where its complete lines end. */
async function lastLineEnd(path: string, size: number): Promise<number> {
  if (size === 0) return -1;
  const handle = await open(path, 'r');
  try {
    const chunk = Buffer.alloc(64 * 1024);
    for (let end = size; end > 0;) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const at = chunk.subarray(0, bytesRead).lastIndexOf(10);
      if (at >= 0) return start + at;
      end = start;
    }
    return -1;
  } finally {
    await handle.close();
  }
}

/** The queries of a TREC run with their candidates (texts from the collection), in the run's query order. */
async function* trecRunQueries(
  options: RerankRunOptions,
  depth: number,
  onTextless: (n: number) => void,
): AsyncGenerator<QueryCandidates, void, undefined> {
  if (!options.collection)
    throw new ConfigError('--collection', 'is required with a TREC run (the passage texts and the queries)');
  const run = await readRun(options.run);
  const queriesPath = options.queries ?? (await findCollection(options.collection, { require: ['queries'] })).queries;
  const queries = new Map((await readQueries(queriesPath)).map((q) => [q.id, q.text]));
  const ranked = new Map<string, { docId: string; score: number }[]>();
  const needed = new Set<string>();
  for (const [qid, entries] of run) {
    if (!queries.has(qid)) throw new ValidationError(options.run, `query ${qid} is not in ${queriesPath}`);
    const top = [...entries].sort(compareTrecOrder).slice(0, depth);
    ranked.set(qid, top);
    for (const e of top) needed.add(e.docId);
  }
  const texts = new Map<string, string>();
  for await (const passage of readCorpus(options.collection))
    if (needed.has(passage.id)) texts.set(passage.id, passage.text);
  const absent = [...needed].filter((id) => !texts.has(id));
  if (absent.length > 0)
    throw new ValidationError(
      options.run,
      `${absent.length} documents of the run are not in the collection ${options.collection} (e.g. ${absent.slice(0, 3).join(', ')})`,
    );
  for (const [qid, top] of ranked) {
    const candidates = top.map((e) => ({ id: e.docId, score: e.score, text: texts.get(e.docId)! }));
    yield { qid, query: queries.get(qid)!, candidates: dropTextless(candidates, onTextless) };
  }
}

/** Candidates without text have no dense score: left out, as `dotrank eval` leaves them out. */
function dropTextless(candidates: Candidate[], onTextless: (n: number) => void): Candidate[] {
  const kept = candidates.filter((c) => c.text.trim() !== '');
  if (kept.length < candidates.length) onTextless(candidates.length - kept.length);
  return kept;
}

/**
 * The queries of an MS MARCO top1000 file, streamed: rows of one query must be consecutive (as in the published
 * files). top1000 rows carry no first-stage score: the file order is kept as a descending score (BM25 order).
 */
async function* top1000Queries(
  path: string,
  depth: number,
  onTextless: (n: number) => void,
): AsyncGenerator<QueryCandidates, void, undefined> {
  let current: QueryCandidates | undefined;
  const finished = new Set<string>();
  for await (const row of readTop1000(path)) {
    if (current?.qid !== row.queryId) {
      if (current) {
        finished.add(current.qid);
        yield { ...current, candidates: dropTextless(current.candidates, onTextless) };
      }
      if (finished.has(row.queryId))
        throw new ValidationError(
          path,
          `the rows of query ${row.queryId} are not consecutive; sort the file by query id first (sort -s -t$'\\t' -k1,1)`,
        );
      current = { qid: row.queryId, query: row.query, candidates: [] };
    }
    if (current.candidates.length < depth)
      current.candidates.push({ id: row.docId, score: -current.candidates.length, text: row.passage });
  }
  if (current) yield { ...current, candidates: dropTextless(current.candidates, onTextless) };
}

/** Most reranks under way at once (each holds its candidates, and through the queue a payload in Redis). */
const MAX_IN_FLIGHT = 16;

/** How the run is read ahead of the query being written. */
interface ReadAhead {
  /** Queries held at once: the one written next and those read after it. */
  queries: number;
  /** Their reranks run at once (the queue's workers), or one after the other (this process). */
  concurrent?: boolean;
  /** Starts a query's work that does not depend on the one before (its encoding), when it is read. */
  prefetch?: (query: string) => void;
}

interface OpenReranker {
  reranker: Reranker;
  /** What the reranker is, for the log. */
  line: string;
  ahead: ReadAhead;
}

/** The reranker: the queue's workers, or this process with the vector cache (Redis when REDIS_URL is set). */
async function openReranker(
  config: DotrankConfig,
  options: RerankRunOptions,
  maxCandidates: number,
): Promise<OpenReranker> {
  const via = options.via ?? (config.REDIS_URL ? 'queue' : 'in-process');
  const windows = await windowsFor(config, options);
  if (via === 'queue') {
    if (!config.REDIS_URL) throw new ConfigError('REDIS_URL', 'must be set for --via queue');
    const reranker = new QueueReranker({
      connection: config.REDIS_URL,
      queuePrefix: config.DOTRANK_QUEUE_PREFIX,
      maxCandidates,
      failedJobTtlSeconds: config.DOTRANK_FAILED_JOB_TTL_SECONDS,
      ...(windows ? { windows } : {}),
    });
    // one job more than the workers take at once (their concurrency as this process's configuration has it): each
    // worker finds its next job waiting when it finishes one, instead of idling through the round trip of the result
    // and the next job
    const workers = await reranker.workerCount().catch(() => 1);
    const perWorker = workerConcurrency(config.DOTRANK_WORKER_CONCURRENCY, availableParallelism());
    const queries = Math.min(MAX_IN_FLIGHT, Math.max(2, workers * perWorker + 1));
    const line = `reranking through the workers of queue "${config.DOTRANK_QUEUE_PREFIX}"`;
    return { reranker, line, ahead: { queries, concurrent: true } };
  }
  const modelDir = options.model ?? config.DOTRANK_MODEL;
  if (!modelDir) throw new ConfigError('--model', 'is required to rerank in this process (or set DOTRANK_MODEL)');
  // one query per inference call: the next query's encoding, started early, would otherwise wait for company, or be
  // gathered with another into one padded call whose vectors may differ in the last bits from a query encoded alone
  const encoder = await loadEncoder(
    resolve(modelDir),
    encoderOptionsFromConfig(config, { queryBatch: { maxSize: 1, waitMs: 0 } }),
  );
  const store = config.REDIS_URL
    ? new RedisVectorStore(vectorStoreOptionsFromConfig(config, encoder))
    : new MemoryVectorStore({ dimension: encoder.dimension, maxEntries: Number.MAX_SAFE_INTEGER });
  const reranker = new InProcessReranker({
    encoder,
    store,
    batchSize: config.DOTRANK_BATCH_SIZE,
    maxCandidates,
    closeResources: true,
    ...(windows ? { windows } : {}),
  });
  return {
    reranker,
    line: `reranking in this process with ${encoder.modelId} (${config.REDIS_URL ? 'Redis' : 'in-memory'} vector cache)`,
    ahead: {
      queries: 2,
      // the next query is encoded (into the query cache, where its rerank finds it) while this one's cached vectors
      // are read and scored; its rerank waits, so that two reranks never encode the same missing passages at once
      ...(config.DOTRANK_QUERY_CACHE_SIZE > 0
        ? { prefetch: (query: string) => void encoder.encodeQueries([query]).catch(() => undefined) }
        : {}),
    },
  };
}

/** The window splitter under a windowed DOTRANK_DOC_SCORE (--doc-score); it needs the model's tokenizer. */
async function windowsFor(config: DotrankConfig, options: RerankRunOptions): Promise<CandidateWindows | undefined> {
  if (!usesWindows(parseDocScore(config.DOTRANK_DOC_SCORE, '--doc-score'))) return undefined;
  const modelDir = options.model ?? config.DOTRANK_MODEL;
  if (!modelDir)
    throw new ConfigError(
      '--model',
      `is required for --doc-score ${config.DOTRANK_DOC_SCORE} (its tokenizer splits windows)`,
    );
  return candidateWindowsFor(resolve(modelDir), passageWindowSettingsFromConfig(config));
}

/** Where a run's best passages go: `x.run` -> `x.passages.jsonl` (any other name gets `.passages.jsonl` added). */
export function passagesFileFor(out: string): string {
  return out.endsWith('.run') ? `${out.slice(0, -4)}.passages.jsonl` : `${out}.passages.jsonl`;
}

/** How many of a query's top documents get their best passage written. */
const PASSAGES_PER_QUERY = 10;

/**
 * The passages file kept for the queries a resumed run keeps (the redone last one and later are written again), or
 * emptied when the run starts afresh.
 */
async function keepPassagesOf(file: string, done: Set<string>): Promise<void> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const kept = text.split('\n').filter((line, i) => {
    if (line.trim() === '') return false;
    try {
      return done.has((JSON.parse(line) as { qid: string }).qid);
    } catch {
      throw new ValidationError(`${file}:${i + 1}`, 'not a passages line this command wrote');
    }
  });
  await writeFile(file, kept.length > 0 ? `${kept.join('\n')}\n` : '');
}

/** `--fusion bm25`: the candidates as they came, scored by the first stage (as the service's fusion bm25 does). */
function firstStageOrder(): Reranker {
  return {
    rerank: async (req) => ({
      results: req.candidates.map((c, i) => ({
        id: c.id,
        rank: i + 1,
        score: c.score,
        bm25Score: c.score,
        text: c.text,
      })),
      fusion: 'bm25',
      timings: { encodeQueryMs: 0, cacheReadMs: 0, encodeMissesMs: 0, scoreMs: 0, totalMs: 0 },
      cache: { hits: 0, misses: 0 },
    }),
    close: async () => undefined,
  };
}

/** The output run (and the best passages of a windowed rerank), appended query by query. */
class RunWriter {
  private readonly stream: WriteStream;
  private readonly failed: Promise<never>;

  constructor(
    out: string,
    private readonly tag: string,
    private readonly passagesFile: string | undefined,
  ) {
    this.stream = createWriteStream(out, { flags: 'a' });
    this.failed = new Promise<never>((_, reject) => this.stream.once('error', reject));
    this.failed.catch(() => undefined);
  }

  async write(qid: string, result: RerankResult): Promise<void> {
    const lines = result.results.map((r) => ({ docId: r.id, score: r.score }));
    const text = formatRun(new Map([[qid, lines]]), this.tag);
    if (this.passagesFile) {
      // written before the run's lines: a query in the run always has its passages (resuming keeps only those)
      const passages = result.results
        .slice(0, PASSAGES_PER_QUERY)
        .filter((r) => r.passage)
        .map((r) => {
          const p = r.passage!;
          return `${JSON.stringify({ qid, docid: r.id, text: p.text, start: p.start, end: p.end, score: p.score })}\n`;
        });
      if (passages.length > 0) await writeFile(this.passagesFile, passages.join(''), { flag: 'a' });
    }
    if (!this.stream.write(text)) await Promise.race([once(this.stream, 'drain'), this.failed]);
  }

  async end(): Promise<void> {
    this.stream.end();
    await Promise.race([once(this.stream, 'finish'), this.failed]);
  }

  destroy(): void {
    this.stream.destroy();
  }
}

/**
 * `dotrank rerank --run`: every query's candidates through the service's rerank step, written to --out query by
 * query (TREC format, ranks in trec_eval order, as `dotrank eval` writes its runs). Queries already in --out are
 * skipped; the last one there is redone.
 */
export async function rerankRun(config: DotrankConfig, options: RerankRunOptions): Promise<RerankRunSummary> {
  const started = performance.now();
  const depth = Math.min(options.depth ?? config.DOTRANK_MAX_CANDIDATES, config.DOTRANK_MAX_CANDIDATES);
  let textless = 0;
  const onTextless = (n: number) => (textless += n);
  const top1000 = await isTop1000(options.run);
  const source = top1000 ? top1000Queries(options.run, depth, onTextless) : trecRunQueries(options, depth, onTextless);
  const out = resolve(options.out);
  const { done, keepBytes } = await completedQueries(out);
  await truncate(out, keepBytes).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  if (done.size > 0) options.log(`resuming: ${done.size} queries already in ${out}`);
  // the run (and the texts of its documents) is read while the model loads
  const first = source.next();
  first.catch(() => undefined);
  const opening: Promise<OpenReranker> =
    options.fusion === 'bm25'
      ? Promise.resolve({
          reranker: firstStageOrder(),
          line: 'writing the first-stage order (no model)',
          ahead: { queries: 1 },
        })
      : openReranker(config, options, depth);
  const { reranker, line, ahead } = await opening.catch((error: unknown) => {
    void first.then(() => source.return(undefined)).catch(() => undefined);
    throw error;
  });
  options.log(line);
  const tag = options.tag ?? `dotrank-${options.fusion}`;
  const windowed = options.fusion !== 'bm25' && usesWindows(parseDocScore(config.DOTRANK_DOC_SCORE, '--doc-score'));
  const passagesFile = windowed ? passagesFileFor(out) : undefined;
  if (passagesFile) await keepPassagesOf(passagesFile, done);
  const writer = new RunWriter(out, tag, passagesFile);
  const bar = createProgress('reranking', 0, options.progress);
  let queries = 0;
  const start = (q: QueryCandidates) => {
    const result = reranker.rerank({
      query: q.query,
      candidates: q.candidates,
      fusion: options.fusion as FusionMode,
      k: q.candidates.length,
      ...(options.alpha !== undefined ? { alpha: options.alpha } : {}),
      ...(options.normalization ? { normalization: options.normalization } : {}),
    });
    // awaited in turn below; a failure meanwhile is no unhandled rejection
    result.catch(() => undefined);
    return result;
  };
  // the queries read ahead, oldest first, each with its rerank once started: written in the run's order, so that
  // --out always ends with whole queries
  const pending: { q: QueryCandidates; at: number; result?: Promise<RerankResult> }[] = [];
  const writeUntil = async (left: number) => {
    while (pending.length > left) {
      const next = pending.shift()!;
      await writer.write(next.q.qid, await (next.result ?? start(next.q)));
      bar.update(next.at, next.at);
    }
  };
  try {
    for (let read = await first; !read.done; read = await source.next()) {
      const q = read.value;
      queries++;
      if (done.has(q.qid)) continue;
      if (q.candidates.length === 0) continue;
      ahead.prefetch?.(q.query);
      pending.push({ q, at: queries, ...(ahead.concurrent ? { result: start(q) } : {}) });
      await writeUntil(ahead.queries - 1);
    }
    await writeUntil(0);
    await writer.end();
  } finally {
    bar.stop();
    writer.destroy();
    await reranker.close();
  }
  if (textless > 0) options.log(`${textless} candidates without text were left out (no dense score)`);
  return { queries, resumed: done.size, textless, out, ms: performance.now() - started };
}
